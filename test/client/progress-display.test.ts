// The progress display: one bar redrawn in place on a terminal, plain lines (every 10 % or 5 s) elsewhere.
import { describe, expect, it } from 'vitest';
import { createProgressDisplay, formatBytes, formatDuration } from '../../gateway/client/progress-display.js';

const MIB = 1024 * 1024;

function recorder(isTTY: boolean) {
  let text = '';
  return { out: { isTTY, columns: 200, write: (chunk: string) => (text += chunk) }, text: () => text };
}

describe('progress display', () => {
  it('redraws one terminal line with percent, rate and ETA', () => {
    let clock = 0;
    const { out, text } = recorder(true);
    const display = createProgressDisplay({ label: 'uploading tr-x', out, now: () => clock });
    clock = 1000;
    display.update(2 * MIB, 8 * MIB);
    clock = 1050; // within the redraw interval: not drawn
    display.update(3 * MIB, 8 * MIB);
    clock = 2000;
    display.update(4 * MIB, 8 * MIB);
    display.finish();
    const frames = text().split('\r').filter(Boolean);
    expect(frames).toHaveLength(3);
    expect(frames[0]).toContain('[######------------------]  25%  2.00 MiB of 8.00 MiB  2.0 MiB/s  ETA 3 s');
    expect(frames[1]).toContain(' 50%  4.00 MiB of 8.00 MiB  2.0 MiB/s  ETA 2 s');
    expect(text().endsWith('\n')).toBe(true);
    expect(text().match(/\n/g)).toHaveLength(1);
  });

  it('writes plain lines at every 10 % step, and every 5 s while a step takes longer', () => {
    let clock = 0;
    const { out, text } = recorder(false);
    const display = createProgressDisplay({ label: 'downloading tr-x', out, now: () => clock });
    for (const [at, done] of [[100, 1], [200, 5], [300, 12], [400, 13], [6000, 14], [7000, 35], [8000, 100]] as const) {
      clock = at;
      display.update(done * MIB, 100 * MIB);
    }
    display.finish();
    expect(text()).not.toContain('\r');
    expect(text().split('\n').filter(Boolean).map((line) => line.replace(/,.*|: done.*/, ''))).toEqual([
      'downloading tr-x: 12% (12.0 MiB of 100.0 MiB)',
      'downloading tr-x: 14% (14.0 MiB of 100.0 MiB)',
      'downloading tr-x: 35% (35.0 MiB of 100.0 MiB)',
      'downloading tr-x: 100% (100.0 MiB of 100.0 MiB)',
      'downloading tr-x',
    ]);
    expect(text()).toMatch(/^downloading tr-x: done, 100.0 MiB in 8\.0 s \(12\.5 MiB\/s\)$/m);
  });

  it('formats sizes and durations for people', () => {
    expect([formatBytes(512), formatBytes(1536), formatBytes(5 * MIB), formatBytes(3.5 * 1024 * MIB)]).toEqual(['512 B', '1.50 KiB', '5.00 MiB', '3.50 GiB']);
    expect([formatDuration(4.4), formatDuration(125), formatDuration(3725), formatDuration(Number.POSITIVE_INFINITY)]).toEqual(['4 s', '2:05', '1:02:05', '?']);
  });
});
