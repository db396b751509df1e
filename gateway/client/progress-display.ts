// Progress of a long transfer for a person watching: on a terminal one bar redrawn in place (percent,
// rate, ETA); in logs and pipes plain lines at every 10 % or 5 s, since carriage returns make
// unreadable log files.
import type { ProgressCallback } from './count-bytes.js';

export interface ProgressOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ProgressDisplayOptions {
  /** What is in progress, e.g. `upload tr-…`. */
  readonly label: string;
  readonly out: ProgressOutput;
  /** Milliseconds; injectable for tests. */
  readonly now?: () => number;
  /** Plain lines: one per step of this many percent (default 10)… */
  readonly stepPercent?: number;
  /** …or after this long without one (default 5 s). */
  readonly lineIntervalMs?: number;
}

export interface ProgressDisplay {
  readonly update: ProgressCallback;
  /** Ends the display with a summary line. */
  finish(): void;
  /** Ends the display without one (the work failed), so that what is printed next starts on a fresh line. */
  abandon(): void;
}

const MIB = 1024 * 1024;
const BAR_WIDTH = 24;
/** A terminal redraw more often than this only costs CPU. */
const REDRAW_MS = 100;

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  const pad = (n: number): string => String(n).padStart(2, '0');
  const [h, m, s] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

const formatRate = (bytesPerSecond: number): string => `${(bytesPerSecond / MIB).toFixed(1)} MiB/s`;

export function createProgressDisplay(options: ProgressDisplayOptions): ProgressDisplay {
  const now = options.now ?? Date.now;
  const tty = options.out.isTTY === true;
  const stepPercent = options.stepPercent ?? 10;
  const lineIntervalMs = options.lineIntervalMs ?? 5000;
  const started = now();
  let done = 0;
  let total = 0;
  let lastDraw = -Infinity;
  // Plain lines start at the first step: a rate measured over the first chunk says nothing.
  let lastStep = 0;
  let lastLine = started;
  let barDrawn = false;

  const measure = () => {
    const elapsedSeconds = Math.max((now() - started) / 1000, 1e-3);
    const rate = done / elapsedSeconds;
    const percent = total > 0 ? Math.min(Math.floor((done / total) * 100), 100) : 100;
    const eta = rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY;
    return { elapsedSeconds, rate, percent, eta };
  };

  const drawBar = (): void => {
    const { rate, percent, eta } = measure();
    const filled = Math.round((percent / 100) * BAR_WIDTH);
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
    const line = `${options.label} ${bar} ${String(percent).padStart(3)}%  ${formatBytes(done)} of ${formatBytes(total)}  ${formatRate(rate)}  ETA ${formatDuration(eta)}`;
    const width = options.out.columns ?? 120;
    options.out.write(`\r\x1b[2K${line.slice(0, Math.max(width - 1, 20))}`);
    barDrawn = true;
  };

  const writeLine = (): void => {
    const { rate, percent, eta } = measure();
    options.out.write(`${options.label}: ${percent}% (${formatBytes(done)} of ${formatBytes(total)}), ${formatRate(rate)}, ETA ${formatDuration(eta)}\n`);
  };

  return {
    update(doneBytes, totalBytes) {
      done = doneBytes;
      total = totalBytes;
      const at = now();
      if (tty) {
        if (at - lastDraw >= REDRAW_MS) {
          lastDraw = at;
          drawBar();
        }
        return;
      }
      const step = Math.floor(measure().percent / stepPercent);
      if (step > lastStep || at - lastLine >= lineIntervalMs) {
        lastStep = Math.max(step, lastStep);
        lastLine = at;
        writeLine();
      }
    },
    finish() {
      if (tty) {
        drawBar();
        options.out.write('\n');
        barDrawn = false;
      }
      const { elapsedSeconds, rate } = measure();
      if (!tty) options.out.write(`${options.label}: done, ${formatBytes(done)} in ${elapsedSeconds.toFixed(1)} s (${formatRate(rate)})\n`);
    },
    abandon() {
      if (barDrawn) options.out.write('\n');
      barDrawn = false;
    },
  };
}
