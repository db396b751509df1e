// A deadline as a promise: what a bounded step races against.

/** Rejects with the signal's reason once it aborts (at once if it already has). */
export function whenAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}
