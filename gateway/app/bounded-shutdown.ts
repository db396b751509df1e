// One deadline for a whole stop: HETAO_SHUTDOWN_GRACE_MS, counted from the first step. A stop is a
// list of steps run in order, and no step may hold the process past its share of the grace: a step
// still running then is abandoned (a warning names it) and the next one starts, so that a Redis
// that stopped answering or a job stuck on a silent recipient cannot keep the process alive.
// Shares: in-flight requests get the first 80 %, draining (HTTP close, ops, queue and workers)
// ends at 90 %, and the last 10 % is kept for local closing (the journal's final checkpoint,
// threads, files), so that a hung drain does not cost the journal its checkpoint.
import type { Logger } from 'pino';
import { whenAborted } from '../clock/when-aborted.js';

export type ShutdownPhase = 'requests' | 'drain' | 'final';

/** When each phase ends, as a share of the grace. */
const PHASE_END: Readonly<Record<ShutdownPhase, number>> = { requests: 0.8, drain: 0.9, final: 1 };

export interface ShutdownOutcome {
  /** Steps still running at their deadline, left behind. */
  readonly abandoned: readonly string[];
  /** Steps that threw (logged with their error). */
  readonly failed: readonly string[];
}

export const NOTHING_LEFT: ShutdownOutcome = { abandoned: [], failed: [] };

/** Whether every step finished: the process exits 0 only then. */
export const stoppedCleanly = (outcome: ShutdownOutcome): boolean => outcome.abandoned.length === 0 && outcome.failed.length === 0;

export interface BoundedShutdown {
  /** Aborts when `phase` ends; steps pass it on to what can give up early (connections, queue clients). */
  deadline(phase: ShutdownPhase): AbortSignal;
  /** Runs `run` until it settles or `phase` ends, whichever is first. Never rejects. */
  step(name: string, phase: ShutdownPhase, run: (deadline: AbortSignal) => unknown): Promise<void>;
  /** Clears the deadlines; what was left undone. */
  finish(): ShutdownOutcome;
}

/** Time as an input: tests may fire deadlines by hand. Returns a cancel function. */
export type Schedule = (ms: number, fire: () => void) => () => void;

const realSchedule: Schedule = (ms, fire) => {
  // Referenced on purpose: while a step hangs, the deadline is what keeps the stop going.
  const timer = setTimeout(fire, ms);
  return () => clearTimeout(timer);
};

export function createBoundedShutdown(options: { graceMs: number; logger: Logger; schedule?: Schedule }): BoundedShutdown {
  const { graceMs, logger } = options;
  const schedule = options.schedule ?? realSchedule;
  const abandoned: string[] = [];
  const failed: string[] = [];
  const cancels: (() => void)[] = [];
  const deadlines = new Map<ShutdownPhase, AbortSignal>();
  for (const phase of Object.keys(PHASE_END) as ShutdownPhase[]) {
    const controller = new AbortController();
    cancels.push(schedule(Math.floor(graceMs * PHASE_END[phase]), () => controller.abort(new Error(`the ${phase} share of HETAO_SHUTDOWN_GRACE_MS is over`))));
    deadlines.set(phase, controller.signal);
  }
  const deadline = (phase: ShutdownPhase): AbortSignal => deadlines.get(phase) as AbortSignal;

  return {
    deadline,
    async step(name, phase, run) {
      const signal = deadline(phase);
      let settled = false;
      const running = (async () => run(signal))().then(
        () => {
          settled = true;
        },
        (error: unknown) => {
          // Giving up because the deadline passed is the abandonment itself, reported below.
          if (signal.aborted && error === signal.reason) return;
          settled = true;
          failed.push(name);
          logger.error({ step: name, err: error }, 'shutdown step failed');
        },
      );
      // `running` first: a step that is already done counts as finished even past its deadline.
      await Promise.race([running, whenAborted(signal).catch(() => undefined)]);
      if (settled) return;
      abandoned.push(name);
      logger.warn({ step: name, graceMs }, 'shutdown step abandoned');
    },
    finish() {
      for (const cancel of cancels.splice(0)) cancel();
      return { abandoned: [...abandoned], failed: [...failed] };
    },
  };
}
