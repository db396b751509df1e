// What a download sends: a slice of the envelope's header, then (when the range reaches it) the
// body's stream from the object store. Piped, the body is piped straight into the destination, so
// a store stream with a pipe of its own (the filesystem store's recycles its buffers, see
// storage/file-range-stream.ts) keeps it; nothing is copied or re-chunked on the way. Consumed any
// other way, it yields the header slice, then the body's chunks.
import { Readable, type Writable } from 'node:stream';

class DownloadStream extends Readable {
  #leading: Uint8Array | undefined;
  readonly #body: Readable | undefined;
  #chunks: AsyncIterator<Uint8Array> | undefined;
  #piped = false;

  constructor(leading: Uint8Array, body: Readable | undefined) {
    super();
    this.#leading = leading.length > 0 ? leading : undefined;
    this.#body = body;
  }

  override _read(): void {
    if (this.#leading) {
      const leading = this.#leading;
      this.#leading = undefined;
      return void this.push(leading);
    }
    if (!this.#body) return void this.push(null);
    this.#chunks ??= this.#body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
    this.#chunks.next().then(
      (next) => this.push(next.done ? null : next.value),
      (error: Error) => this.destroy(error),
    );
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    if (this.#piped || this.readableFlowing !== null || this.readableDidRead) return super.pipe(destination, options);
    this.#piped = true;
    const sink = destination as unknown as Writable;
    if (this.#leading) sink.write(this.#leading);
    this.#leading = undefined;
    const finish = (): void => {
      // Ends this Readable as pipe() would have: 'end', then autoDestroy.
      this.push(null);
      this.resume();
    };
    if (!this.#body) {
      if (options?.end ?? true) sink.end();
      finish();
      return destination;
    }
    this.#body.once('end', finish);
    this.#body.once('error', (error) => this.destroy(error));
    this.#body.pipe(sink, options);
    return destination;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#body && !this.#body.destroyed) this.#body.destroy();
    callback(error);
  }
}

/** `leading` (may be empty), then `body` (absent when the range ends before it). */
export function downloadStream(leading: Uint8Array, body: Readable | undefined): Readable {
  return new DownloadStream(leading, body);
}
