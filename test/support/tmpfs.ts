// A small tmpfs for full-disk tests: mounted fresh (tests run as root on these machines; where the
// mount fails, the test fails with the reason, it is never skipped), filled with a ballast file to a
// chosen free space, emptied, unmounted.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, rmdir, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BALLAST = 'ballast.bin';

export interface Tmpfs {
  readonly dir: string;
  /** Fills the file system with a ballast file until about `leave` bytes are free (0: until it is full). */
  fill(leave: number): Promise<void>;
  /** Removes the ballast. */
  empty(): Promise<void>;
  /**
   * Makes a folder of the file system read-only (EROFS), as a bind mount of itself: the whole file
   * system cannot be remounted read-only while files are open for writing. Undone by `writable`.
   */
  readOnly(folder: string): Promise<void>;
  /** Undoes every `readOnly`. */
  writable(): Promise<void>;
  /** Unmounts (lazily: a file still open must not leave the mount behind) and removes the mount point. */
  unmount(): Promise<void>;
}

export async function freeBytes(folder: string): Promise<number> {
  const stats = await statfs(folder);
  return stats.bavail * stats.bsize;
}

export async function mountTmpfs(bytes: number): Promise<Tmpfs> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
  } catch (error) {
    await rmdir(dir).catch(() => undefined);
    throw new Error(`cannot mount a tmpfs at ${dir} (these tests need root): ${(error as Error).message}`, { cause: error });
  }
  const ballast = path.join(dir, BALLAST);
  const readOnlyFolders: string[] = [];
  const writable = async (): Promise<void> => {
    for (let folder = readOnlyFolders.pop(); folder !== undefined; folder = readOnlyFolders.pop()) await run('umount', [folder]);
  };
  return {
    dir,
    async fill(leave) {
      const file = await open(ballast, 'a');
      const block = Buffer.alloc(64 * 1024, 7);
      try {
        for (let left = (await freeBytes(dir)) - leave; left > 0; ) {
          const piece = block.subarray(0, Math.min(block.length, left));
          try {
            await file.write(piece);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return;
            throw error;
          }
          left -= piece.length;
        }
      } finally {
        await file.close();
      }
    },
    empty: () => rm(ballast, { force: true }),
    async readOnly(folder) {
      await mkdir(folder, { recursive: true });
      await run('mount', ['--bind', folder, folder]);
      readOnlyFolders.push(folder);
      await run('mount', ['-o', 'remount,bind,ro', folder]);
    },
    writable,
    async unmount() {
      await writable().catch(() => undefined);
      await run('umount', ['-l', dir]);
      await rmdir(dir).catch(() => undefined);
    },
  };
}
