// Appends bytes to a file opened for appending and waits until they are on stable storage.
import type { FileHandle } from 'node:fs/promises';

/**
 * Writes all of `bytes` (looping over short writes), then fdatasync: on Linux that flushes the data
 * and the file size, which is everything an append changes, without the inode timestamps.
 */
export async function appendDurably(handle: FileHandle, bytes: Buffer): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
    written += bytesWritten;
  }
  await handle.datasync();
}
