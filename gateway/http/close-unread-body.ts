// Answers sent before the request body was read to its end (413, 422 mid-stream, 503 queue down,
// 400 idle upload, any refusal before an upload) close the connection instead of leaving it
// half-read: the rest of the body would otherwise be parsed as the next request, or, once the
// upload pipeline has let go of it, sit unread with the socket paused until the keep-alive timer
// fires. Closing is a lingering close: the answer and a FIN go out, then what the client is still
// sending is read and thrown away for a bounded time and amount. Closing at once with unread bytes
// in the kernel makes TCP send a reset, and the reset can overtake and destroy the answer.
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

export interface LingerLimits {
  /** A closing connection that sends nothing for this long is cut. */
  readonly idleMs: number;
  /** The longest a closing connection is read and discarded before it is cut. */
  readonly totalMs: number;
  /** The most bytes discarded before it is cut. */
  readonly bytes: number;
}

/**
 * Enough for a client to see the answer and stop (nginx's lingering close has the same shape);
 * small enough that no one holds the socket for long.
 */
export const DEFAULT_LINGER: LingerLimits = { idleMs: 2000, totalMs: 30_000, bytes: 16 * 1024 * 1024 };

const lingering = new WeakSet<Socket>();

/**
 * Makes `socket` close by lingering when the HTTP server next closes it (after the answer in
 * flight, or at once when there is none). Idempotent.
 */
export function closeByLingering(socket: Socket, limits: LingerLimits = DEFAULT_LINGER): void {
  if (lingering.has(socket)) return;
  lingering.add(socket);
  // node:http ends a connection whose answer says `Connection: close` with socket.destroySoon(),
  // which destroys it as soon as the FIN is written: replaced on this one socket only.
  socket.destroySoon = () => linger(socket, limits);
}

/** Sends the FIN after what is queued, then discards input until the client closes or a bound is hit. */
export function linger(socket: Socket, limits: LingerLimits = DEFAULT_LINGER): void {
  if (socket.destroyed) return;
  let discarded = 0;
  const cut = (): void => {
    clearTimeout(idle);
    clearTimeout(total);
    socket.destroy();
  };
  const idle = setTimeout(cut, limits.idleMs);
  const total = setTimeout(cut, limits.totalMs);
  idle.unref();
  total.unref();
  // The HTTP parser must not see the rest of the body (it would pause the socket or parse it as a
  // request): adding a 'data' listener detaches it from the handle, then its own listener goes.
  const discard = (chunk: Buffer): void => {
    discarded += chunk.length;
    if (discarded > limits.bytes) cut();
    else idle.refresh();
  };
  socket.on('data', discard);
  for (const listener of socket.listeners('data')) if (listener !== discard) socket.removeListener('data', listener as (chunk: Buffer) => void);
  socket.once('end', cut);
  socket.once('close', () => {
    clearTimeout(idle);
    clearTimeout(total);
  });
  socket.on('error', () => undefined);
  socket.end();
  socket.resume();
}

/**
 * Every answer sent while the request body is still incomplete says `Connection: close` and
 * closes the connection by lingering.
 */
export function installUnreadBodyClose(app: FastifyInstance, limits: LingerLimits = DEFAULT_LINGER): void {
  app.addHook('onSend', async (request, reply) => {
    if (request.raw.complete) return;
    reply.header('connection', 'close');
    // A failed upload pipeline has already unhooked the request from its socket; the answer has not.
    const socket = reply.raw.socket ?? request.raw.socket;
    if (socket) closeByLingering(socket, limits);
  });
}
