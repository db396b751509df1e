// A raw mutual-TLS connection to a test gateway, for tests that must see exactly which bytes reach
// the client and whether the gateway closed the connection (undici hides both).
import { connect, type TLSSocket } from 'node:tls';
import { zoneCaBundle, type ClientIdentity } from './dev-pki.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Interim 1xx responses (e.g. 100 Continue) received before this one. */
  readonly interim: readonly number[];
}

export interface RawConnection {
  readonly socket: TLSSocket;
  /** Writes bytes; resolves when they are handed to TLS (false when the connection is gone). */
  write(bytes: string | Buffer): Promise<boolean>;
  /** The next complete response on this connection (rejects if the connection ends first). */
  response(): Promise<RawResponse>;
  /** Resolves once the gateway has ended or the connection is closed; `reset` when it was reset. */
  closed(): Promise<{ reset: boolean }>;
  /** Whether the gateway has sent its FIN (or the socket is closed). */
  isClosed(): boolean;
  /** Everything received so far, as text. */
  received(): string;
  destroy(): void;
}

/** Opens a TLS connection presenting `identity` and waits for the handshake. */
export async function openRawTls(baseUrl: string, identity: ClientIdentity): Promise<RawConnection> {
  const url = new URL(baseUrl);
  const socket = connect({ host: url.hostname, port: Number(url.port), ca: zoneCaBundle(), cert: identity.cert, key: identity.key });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  let buffer = Buffer.alloc(0);
  let all = '';
  let ended = false;
  let reset = false;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    all += chunk.toString('latin1');
    wake();
  });
  socket.on('end', () => {
    ended = true;
    wake();
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ECONNRESET') reset = true;
    ended = true;
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });

  /** Parses one response off the front of the buffer, or undefined when it is not complete yet. */
  const take = (): { status: number; headers: Record<string, string>; body: string } | undefined => {
    const headEnd = buffer.indexOf('\r\n\r\n');
    if (headEnd < 0) return undefined;
    const lines = buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
    const status = Number(lines[0]?.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = status < 200 ? 0 : Number(headers['content-length'] ?? 0);
    if (buffer.length < headEnd + 4 + length) return undefined;
    const body = buffer.subarray(headEnd + 4, headEnd + 4 + length).toString('utf8');
    buffer = buffer.subarray(headEnd + 4 + length);
    return { status, headers, body };
  };

  return {
    socket,
    write: (bytes) =>
      new Promise((resolve) => {
        if (socket.destroyed || !socket.writable) {
          resolve(false);
          return;
        }
        socket.write(bytes, (error) => resolve(!error));
      }),
    response: () =>
      new Promise((resolve, reject) => {
        const interim: number[] = [];
        const check = (): void => {
          for (let next = take(); next; next = take()) {
            if (next.status < 200) {
              interim.push(next.status);
              continue;
            }
            waiters.delete(check);
            resolve({ ...next, interim });
            return;
          }
          if (ended) {
            waiters.delete(check);
            reject(new Error(`connection ended without a (complete) response; received: ${JSON.stringify(all.slice(0, 300))}, reset: ${reset}`));
          }
        };
        waiters.add(check);
        check();
      }),
    closed: () =>
      new Promise((resolve) => {
        const check = (): void => {
          if (!ended) return;
          waiters.delete(check);
          resolve({ reset });
        };
        waiters.add(check);
        check();
      }),
    isClosed: () => ended,
    received: () => all,
    destroy: () => socket.destroy(),
  };
}

/** The head of an HTTP/1.1 request to the test gateway. */
export function requestHead(method: string, target: string, headers: Record<string, string | number> = {}): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: localhost', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}
