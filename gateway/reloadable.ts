// Keeps the last good version of something loaded from files (registry, CRL, later policies) and
// swaps in a new version only when it loads cleanly. Reloads are serialised, triggered by file
// changes (watching the folder, because editors replace files by rename) or explicitly on SIGHUP.
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

export interface Reloadable<T> {
  current(): T;
  /** Loads again; resolves to true when a new version is now in force. Never rejects. */
  reload(trigger: string): Promise<boolean>;
  close(): void;
}

export interface ReloadableOptions<T> {
  readonly name: string;
  readonly files: readonly string[];
  readonly load: () => Promise<T>;
  /** Versions with the same revision are not swapped in. */
  readonly revisionOf: (value: T) => string;
  readonly watchFiles: boolean;
  readonly onReloaded?: (event: { name: string; trigger: string; before: T; after: T }) => void | Promise<void>;
  readonly onRejected?: (event: { name: string; trigger: string; error: unknown }) => void;
  /** Debounce for bursts of file events (an editor's save emits several). */
  readonly settleMs?: number;
}

/** Loads the first version (its error propagates: the gateway does not start on an invalid file). */
export async function createReloadable<T>(options: ReloadableOptions<T>): Promise<Reloadable<T>> {
  let value: T = await options.load();
  let queue: Promise<boolean> = Promise.resolve(true);
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;

  const reloadNow = async (trigger: string): Promise<boolean> => {
    let next: T;
    try {
      next = await options.load();
    } catch (error) {
      options.onRejected?.({ name: options.name, trigger, error });
      return false;
    }
    if (options.revisionOf(next) === options.revisionOf(value)) return false;
    const before = value;
    try {
      // Whoever applies the new version (e.g. the TLS context) may still refuse it.
      await options.onReloaded?.({ name: options.name, trigger, before, after: next });
    } catch (error) {
      options.onRejected?.({ name: options.name, trigger, error });
      return false;
    }
    value = next;
    return true;
  };

  const reload = (trigger: string): Promise<boolean> => {
    queue = queue.then(() => reloadNow(trigger));
    return queue;
  };

  if (options.watchFiles) {
    const byFolder = new Map<string, Set<string>>();
    for (const file of options.files) {
      const folder = path.dirname(file);
      byFolder.set(folder, (byFolder.get(folder) ?? new Set()).add(path.basename(file)));
    }
    for (const [folder, names] of byFolder) {
      const watcher = watch(folder, { persistent: false }, (_event, filename) => {
        if (filename !== null && !names.has(filename.toString())) return;
        clearTimeout(timer);
        timer = setTimeout(() => void reload('file-change'), options.settleMs ?? 150);
      });
      watcher.on('error', (error) => options.onRejected?.({ name: options.name, trigger: 'watch', error }));
      watchers.push(watcher);
    }
  }

  return {
    current: () => value,
    reload,
    close() {
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
