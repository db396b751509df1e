// Keeps the last good version of something loaded from files (registry, CRL, later policies) and
// swaps in a new version only when it loads cleanly. Reloads are serialised, triggered by file
// changes (watching the folder, because editors replace files by rename) or explicitly on SIGHUP.
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { systemSchedule, type Cancel, type Schedule } from '../clock/schedule.js';

export type ReloadResult =
  | { readonly outcome: 'applied' | 'unchanged' }
  | { readonly outcome: 'rejected'; readonly error: unknown };

export interface Reloadable<T> {
  current(): T;
  /** Loads again and swaps in the new version if it is valid and different. Never rejects. */
  reload(trigger: string): Promise<ReloadResult>;
  close(): void;
}

/** A folder to watch and which of its entries matter (a file, or e.g. every `*.policy.yaml`). */
export interface WatchTarget {
  readonly folder: string;
  readonly accept: (name: string) => boolean;
}

export function watchFile(file: string): WatchTarget {
  const name = path.basename(file);
  return { folder: path.dirname(file), accept: (candidate) => candidate === name };
}

export interface ReloadableOptions<T> {
  readonly name: string;
  readonly watch: readonly WatchTarget[];
  readonly load: () => Promise<T>;
  /** Versions with the same revision are not swapped in. */
  readonly revisionOf: (value: T) => string;
  readonly watchFiles: boolean;
  readonly onReloaded?: (event: { name: string; trigger: string; before: T; after: T }) => void | Promise<void>;
  readonly onRejected?: (event: { name: string; trigger: string; error: unknown }) => void | Promise<void>;
  /** Debounce for bursts of file events (an editor's save emits several). */
  readonly settleMs?: number;
  /** Runs the debounced reload (default: Node's timers); a test passes one it runs by hand. */
  readonly schedule?: Schedule;
}

/** Loads the first version (its error propagates: the gateway does not start on an invalid file). */
export async function createReloadable<T>(options: ReloadableOptions<T>): Promise<Reloadable<T>> {
  let value: T = await options.load();
  let queue: Promise<ReloadResult> = Promise.resolve({ outcome: 'unchanged' });
  const watchers: FSWatcher[] = [];
  let pending: Cancel | undefined;

  const reloadNow = async (trigger: string): Promise<ReloadResult> => {
    let next: T;
    try {
      next = await options.load();
    } catch (error) {
      await options.onRejected?.({ name: options.name, trigger, error });
      return { outcome: 'rejected', error };
    }
    if (options.revisionOf(next) === options.revisionOf(value)) return { outcome: 'unchanged' };
    const before = value;
    try {
      // Whoever applies the new version (e.g. the TLS context) may still refuse it.
      await options.onReloaded?.({ name: options.name, trigger, before, after: next });
    } catch (error) {
      await options.onRejected?.({ name: options.name, trigger, error });
      return { outcome: 'rejected', error };
    }
    value = next;
    return { outcome: 'applied' };
  };

  const reload = (trigger: string): Promise<ReloadResult> => {
    queue = queue.then(() => reloadNow(trigger));
    return queue;
  };

  if (options.watchFiles) {
    for (const target of options.watch) {
      const watcher = watch(target.folder, { persistent: false }, (_event, filename) => {
        if (filename !== null && !target.accept(filename.toString())) return;
        pending?.();
        pending = (options.schedule ?? systemSchedule).after(options.settleMs ?? 150, () => reload('file-change'));
      });
      watcher.on('error', (error) => void options.onRejected?.({ name: options.name, trigger: 'watch', error }));
      watchers.push(watcher);
    }
  }

  return {
    current: () => value,
    reload,
    close() {
      pending?.();
      for (const watcher of watchers) watcher.close();
    },
  };
}
