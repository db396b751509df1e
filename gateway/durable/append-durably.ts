// Appends bytes to a file opened for appending and waits until they are on stable storage.
import type { FileHandle } from 'node:fs/promises';

/**
 * Writes all of `bytes` (looping over short writes), then fdatasync: on Linux that flushes the data
 * and the file size, which is everything an append changes, without the inode timestamps. A failed
 * append (a full disk: ENOSPC after a short write) is cut back off, so the file never ends in half a
 * line; the error is rethrown.
 */
export async function appendDurably(handle: FileHandle, bytes: Buffer): Promise<void> {
  const { size: before } = await handle.stat();
  try {
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
      written += bytesWritten;
    }
    await handle.datasync();
  } catch (error) {
    try {
      await handle.truncate(before);
      await handle.datasync();
    } catch (truncateError) {
      (error as Error).message += `; cutting the append back failed too: ${(truncateError as Error).message}`;
    }
    throw error;
  }
}
