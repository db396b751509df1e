// A file, or a byte range of it, as a Readable for downloads. Piped (an envelope download: Fastify
// pipes it into the response), it reads into a few buffers of its own and reuses each once the
// destination has called back for the chunk written from it. A fresh 1 MiB buffer per read, as
// fs.createReadStream takes, costs a page fault per 4 KiB and the collector's work to free it:
// ~40 % of the server's CPU per GiB served over TLS (bench/download-throughput.ts, profiled). A
// Writable owns a chunk until it calls back for it (the stream contract), so no buffer is refilled
// while the destination may still read it. Consumed any other way (events, async iteration), each
// chunk is a buffer of its own, as with fs.createReadStream.
import { open, type FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';

export interface FileRangeOptions {
  /** First byte (default 0). */
  readonly start?: number;
  /** Last byte, inclusive as in HTTP ranges (default: the end of the file). */
  readonly end?: number;
  /** Bytes per read (default 1 MiB: small reads cost a thread-pool round trip each). */
  readonly chunkBytes?: number;
  /** Buffers recycled while piping: one being written, one filling ahead, spares (default 4). */
  readonly buffers?: number;
}

const DEFAULT_CHUNK_BYTES = 1024 * 1024;
const DEFAULT_BUFFERS = 4;

class FileRangeStream extends Readable {
  readonly #file: string;
  readonly #chunkBytes: number;
  readonly #bufferLimit: number;
  /** The last byte to read (inclusive); Infinity = to the end of the file. */
  readonly #last: number;
  #position: number;
  #handle: Promise<FileHandle> | undefined;
  #piped = false;
  readonly #spare: Buffer[] = [];
  #allocated = 0;
  /** Resumes the pump waiting for a buffer to come back; also called on destroy. */
  #wake: (() => void) | undefined;

  constructor(file: string, options: FileRangeOptions) {
    super({ highWaterMark: options.chunkBytes ?? DEFAULT_CHUNK_BYTES });
    this.#file = file;
    this.#chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.#bufferLimit = Math.max(2, options.buffers ?? DEFAULT_BUFFERS);
    this.#position = options.start ?? 0;
    this.#last = options.end ?? Infinity;
  }

  /** Fills `buffer` from the current position; undefined at the end of the range. */
  async #fill(buffer: Buffer): Promise<Buffer | undefined> {
    const wanted = Math.min(buffer.length, this.#last - this.#position + 1);
    if (wanted <= 0) return undefined;
    this.#handle ??= open(this.#file, 'r');
    const { bytesRead } = await (await this.#handle).read(buffer, 0, wanted, this.#position);
    this.#position += bytesRead;
    return bytesRead === 0 ? undefined : buffer.subarray(0, bytesRead);
  }

  override _read(): void {
    this.#fill(Buffer.allocUnsafeSlow(this.#chunkBytes)).then(
      (chunk) => this.push(chunk ?? null),
      (error: Error) => this.destroy(error),
    );
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    // Only a first, sole consumer gets the recycling pump; anything else is an ordinary Readable.
    if (this.#piped || this.readableFlowing !== null || this.readableDidRead) return super.pipe(destination, options);
    this.#piped = true;
    void this.#pump(destination as unknown as Writable, options?.end ?? true);
    return destination;
  }

  async #pump(destination: Writable, end: boolean): Promise<void> {
    // Pipe semantics for a file source: a destination that goes away first ends the reading.
    const gone = (): void => {
      if (!this.readableEnded) this.destroy();
    };
    destination.once('close', gone);
    destination.once('error', gone);
    try {
      // The next chunk fills while the destination sends the last one. Written only after a
      // drain: chunks queued together reach a TLS socket as one writev, which it first copies into
      // one buffer (~0.25 s per GiB).
      let ahead = this.#fillNext();
      for (;;) {
        const next = await ahead;
        if (!next || this.destroyed || destination.destroyed) break;
        const more = destination.write(next.bytes, () => this.#release(next.buffer));
        ahead = this.#fillNext();
        // Settled only after the drain: unheard until then, a failed read would count as unhandled.
        ahead.catch(() => undefined);
        if (!more) await this.#drained(destination);
      }
      if (this.destroyed || destination.destroyed) return;
      destination.removeListener('close', gone);
      destination.removeListener('error', gone);
      if (end) destination.end();
      // Ends this Readable as pipe() would have: 'end', then autoDestroy closes the file.
      this.push(null);
      this.resume();
    } catch (error) {
      this.destroy(error as Error);
    }
  }

  /** The next chunk, read into a buffer of the pool (waiting for one to come back if all are out). */
  async #fillNext(): Promise<{ bytes: Buffer; buffer: Buffer } | undefined> {
    let buffer = this.#spare.pop();
    while (!buffer) {
      if (this.destroyed) return undefined;
      if (this.#allocated < this.#bufferLimit) {
        this.#allocated += 1;
        buffer = Buffer.allocUnsafeSlow(this.#chunkBytes);
      } else {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        buffer = this.#spare.pop();
      }
    }
    const bytes = await this.#fill(buffer);
    if (!bytes) {
      this.#spare.push(buffer);
      return undefined;
    }
    return { bytes, buffer };
  }

  /** Resolves at the destination's next 'drain', or when it or this stream closes. */
  #drained(destination: Writable): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        destination.removeListener('drain', done);
        destination.removeListener('close', done);
        this.removeListener('close', done);
        resolve();
      };
      destination.once('drain', done);
      destination.once('close', done);
      this.once('close', done);
    });
  }

  #release(buffer: Buffer): void {
    this.#spare.push(buffer);
    this.#wake?.();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#wake?.();
    const handle = this.#handle;
    this.#handle = undefined;
    if (!handle) return callback(error);
    handle.then(
      (opened) => opened.close().then(() => callback(error), (closeError: Error) => callback(error ?? closeError)),
      () => callback(error),
    );
  }
}

/**
 * Streams `file` from `start` to `end` (inclusive). A missing file is an 'error' event (ENOENT) on
 * the first read, as with fs.createReadStream.
 */
export function createFileRangeStream(file: string, options: FileRangeOptions = {}): Readable {
  return new FileRangeStream(file, options);
}
