// What a module run in a pool thread exports; the thread loads it the first time it is named
// (thread-host.ts). `runJob` answers one request (a durable file step, a range of the journal scan);
// `openChannel` holds a conversation (an upload being sealed). Both run in the thread, never on the
// event loop, so they may block.

/** A job's answer; the buffers in `transfer` move to the caller instead of being copied. */
export interface JobAnswer<Value> {
  readonly value: Value;
  readonly transfer?: readonly ArrayBuffer[];
}

/** Throwing (or rejecting) fails the job: the caller gets an Error with the same message and `code`. */
export type RunJob<Request, Value> = (request: Request) => JobAnswer<Value> | Promise<JobAnswer<Value>>;

/** The thread's end of a channel. */
export interface ChannelPort<Out> {
  /** Buffers in `transfer` move to the event loop instead of being copied; never list a pooled Buffer's. */
  send(message: Out, transfer?: readonly ArrayBuffer[]): void;
}

export interface ChannelHandler<In> {
  /** Messages arrive in the order they were posted. Throwing fails the channel (the caller is told why). */
  receive(message: In): void;
  /** The caller closed the channel, or the handler threw: let go of what it holds. */
  close(): void;
}

export type OpenThreadChannel<In, Out> = (port: ChannelPort<Out>) => ChannelHandler<In>;
