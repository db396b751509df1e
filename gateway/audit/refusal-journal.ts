// Refused calls (401/403 after TLS) are journaled, but no caller can grow the journal without bound:
// per principal + method + route + code, the first refusal of a window is written as it happens
// (before the answer leaves), and its repeats in that window become one more entry with their count
// when the window ends (or the gateway stops).
import type { AuditActor, AuditEvent } from './audit-entry.js';

export interface Refusal {
  /** The registered principal, or undefined when the certificate maps to none. */
  readonly actor?: AuditActor;
  /** SHA-256 of the client certificate, for callers the registry does not know. */
  readonly certificateSha256?: string;
  readonly method: string;
  /** The route pattern (`/v1/transfers/:id`), never the raw URL: keys stay few. */
  readonly route: string;
  readonly code: string;
}

export interface RefusalJournal {
  /** Journals the refusal if it is the first of its kind in the current window, else counts it. */
  record(refusal: Refusal): Promise<void>;
  /** Writes the counts of windows that have ended; with `all`, of every window (at shutdown). */
  flush(options?: { all?: boolean }): Promise<void>;
}

interface WindowState {
  readonly refusal: Refusal;
  readonly start: Date;
  repeats: number;
}

/** Beyond this many distinct keys in one window, refusals are counted under one overflow key per code. */
const MAX_KEYS = 10_000;

export const REFUSAL_EVENT = 'access.refused';

export function createRefusalJournal(deps: { append(event: AuditEvent): Promise<unknown>; clock(): Date; windowMs: number }): RefusalJournal {
  const windows = new Map<string, WindowState>();
  const keyOf = (refusal: Refusal): string =>
    JSON.stringify([refusal.actor?.kind ?? '', refusal.actor?.id ?? refusal.certificateSha256 ?? '', refusal.method, refusal.route, refusal.code]);

  const eventOf = (refusal: Refusal, count: number, window?: { start: Date; end: Date }): AuditEvent => ({
    type: REFUSAL_EVENT,
    actor: refusal.actor ?? { kind: 'gateway', id: 'gateway' },
    details: {
      method: refusal.method,
      route: refusal.route,
      code: refusal.code,
      count,
      ...(refusal.certificateSha256 && !refusal.actor ? { certificateSha256: refusal.certificateSha256 } : {}),
      ...(window ? { repeatsFrom: window.start.toISOString(), repeatsUntil: window.end.toISOString() } : {}),
    },
  });

  const writeRepeats = async (state: WindowState, end: Date): Promise<void> => {
    if (state.repeats > 0) await deps.append(eventOf(state.refusal, state.repeats, { start: state.start, end }));
  };

  return {
    async record(offered) {
      const now = deps.clock();
      let refusal = offered;
      let key = keyOf(refusal);
      if (!windows.has(key) && windows.size >= MAX_KEYS) {
        refusal = { method: '*', route: '*', code: offered.code };
        key = keyOf(refusal);
      }
      const state = windows.get(key);
      if (state && now.getTime() - state.start.getTime() < deps.windowMs) {
        state.repeats += 1;
        return;
      }
      windows.set(key, { refusal, start: now, repeats: 0 });
      if (state) await writeRepeats(state, now);
      await deps.append(eventOf(refusal, 1));
    },

    async flush(options = {}) {
      const now = deps.clock();
      for (const [key, state] of [...windows]) {
        if (!options.all && now.getTime() - state.start.getTime() < deps.windowMs) continue;
        windows.delete(key);
        await writeRepeats(state, now);
      }
    },
  };
}
