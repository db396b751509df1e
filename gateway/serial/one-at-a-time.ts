// Work that must not overlap for one key (a record, a pair of institutions, a witnessed log) runs one
// after another, in call order, inside one process. Stores that several processes share add their
// own lock in the database; this is the in-process half.

/**
 * A runner of works per key: each starts once the previous one for its key settled (a rejected work
 * does not stop the next), and a key with nothing running is forgotten, so the map does not grow.
 */
export function oneAtATimePerKey(): <T>(key: string, work: () => Promise<T>) => Promise<T> {
  const running = new Map<string, Promise<unknown>>();
  return async (key, work) => {
    const run = (running.get(key) ?? Promise.resolve()).then(work);
    const settled = run.catch(() => undefined);
    running.set(key, settled);
    try {
      return await run;
    } finally {
      if (running.get(key) === settled) running.delete(key);
    }
  };
}
