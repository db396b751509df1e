// SHA-256 and size of a file, read once as a stream: the manifest declares both before the upload.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ProgressCallback } from './count-bytes.js';

/** Large reads: hashing is bound by the disk, and 64 KiB reads cost more calls than they save memory. */
export const FILE_READ_CHUNK_BYTES = 1024 * 1024;

export interface FileDigest {
  /** Lowercase hex. */
  readonly sha256: string;
  readonly sizeBytes: number;
}

export async function digestFile(file: string, onProgress?: ProgressCallback): Promise<FileDigest> {
  const { size } = await stat(file);
  const hash = createHash('sha256');
  let done = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: FILE_READ_CHUNK_BYTES })) {
    hash.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    onProgress?.(done, size);
  }
  return { sha256: hash.digest('hex'), sizeBytes: done };
}
