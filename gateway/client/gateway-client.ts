// The lab-side client of the gateway: one mutual-TLS connection pool (undici Agent) and one method
// per API call a lab system makes. Uploads and downloads stay streams end to end; every non-2xx
// answer becomes a GatewayClientError carrying the problem document's members; a request that gets no
// answer becomes a GatewayRequestError saying why in words (a refused certificate, an untrusted
// gateway, nothing listening), and a key that is not the certificate's is refused before connecting.
import { pipeline, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JSONWebKeySet } from 'jose';
import { Agent, request, type Dispatcher } from 'undici';
import { checkClientCredentials } from './check-client-credentials.js';
import { byteCounter, countChunks, type ProgressCallback } from './count-bytes.js';
import { explainConnectionFailure } from './explain-connection-failure.js';
import { GatewayClientError, GatewayRequestError, WaitTimeoutError } from './gateway-client-error.js';
import type { CreatedTransfer, TransferPage, TransferQuery, TransferView } from './transfer-view.js';

export interface GatewayClientOptions {
  /** e.g. `https://127.0.0.1:8443`; a path prefix is kept. */
  readonly baseUrl: string;
  /** The institution's client certificate chain and private key (PEM). */
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** The zone CA bundle the gateway's server certificate must chain to (PEM). */
  readonly ca: string | Buffer;
}

export type UploadSource = Readable | AsyncIterable<Uint8Array>;

export interface EnvelopeDownload {
  /** The envelope bytes as they arrive (application/vnd.hetao.envelope). */
  readonly stream: Readable;
  /** The envelope size the gateway announced (content-length). */
  readonly size: number;
}

export interface WaitOptions {
  /** Stop polling once this holds. */
  readonly until: (record: TransferView) => boolean;
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  /** Sees every record polled, e.g. to show the status as it changes. */
  readonly onPoll?: (record: TransferView) => void;
}

export interface GatewayClient {
  /**
   * Asks for a transfer; the policy decides at once.
   * @throws GatewayClientError `ERR_POLICY_DENIED` (see `reasons`), `ERR_MANIFEST_INVALID` (see `extensions.problems`)
   */
  createTransfer(manifest: object): Promise<CreatedTransfer>;
  /**
   * Streams the content up. Resolves with the record once the gateway has answered: `available` or
   * `quarantined` (200), or `queued` (202: workers finish it; follow it with waitForStatus).
   * @throws GatewayClientError e.g. `ERR_TRANSFER_SIZE_MISMATCH`, `ERR_TRANSFER_DIGEST_MISMATCH`, `ERR_TRANSFER_STATE`
   */
  uploadContent(id: string, source: UploadSource, sizeBytes: number, onProgress?: ProgressCallback): Promise<TransferView>;
  getTransfer(id: string): Promise<TransferView>;
  /** tus: creates the resumable upload of `id` (its declared size). @throws GatewayClientError as uploadContent */
  createResumableUpload(id: string, sizeBytes: number): Promise<void>;
  /** tus HEAD: the offset the gateway has; undefined when no upload is in progress (404). */
  resumableOffset(id: string): Promise<number | undefined>;
  /**
   * tus PATCH: `source` (the content from `offset` on) continues the upload; resolves with the
   * gateway's new offset. `onProgress` counts from `offset`.
   */
  appendResumable(id: string, offset: number, source: UploadSource, sizeBytes: number, onProgress?: ProgressCallback): Promise<number>;
  listTransfers(query: TransferQuery): Promise<TransferPage>;
  /** Polls the record until `until` holds. @throws WaitTimeoutError with the last record seen. */
  waitForStatus(id: string, options: WaitOptions): Promise<TransferView>;
  /** Opens the envelope download; the caller must consume or destroy `stream`. */
  downloadEnvelope(id: string, onProgress?: ProgressCallback): Promise<EnvelopeDownload>;
  /** Confirms receipt with the SHA-256 of the decrypted plaintext. @throws GatewayClientError `ERR_TRANSFER_RECEIPT_MISMATCH` */
  postReceipt(id: string, sha256: string): Promise<TransferView>;
  /** The gateway's public signing keys (envelope headers, audit checkpoints). */
  jwks(): Promise<JSONWebKeySet>;
  close(): Promise<void>;
}

type RequestOptions = NonNullable<Parameters<typeof request>[1]>;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Reads a non-2xx answer into an error; a body that is no JSON object still yields one. */
async function problemOf(response: Dispatcher.ResponseData<unknown>): Promise<GatewayClientError> {
  const body = await response.body.text();
  let problem: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(body);
    if (isObject(parsed)) problem = parsed;
  } catch {
    if (body.trim()) problem = { detail: body.trim().slice(0, 500) };
  }
  return new GatewayClientError(response.statusCode, problem);
}

/**
 * A client of one gateway with one TLS identity.
 * @throws ClientCredentialsError when the certificate or key is unreadable or the key is not the certificate's.
 */
const TUS_HEADERS = { 'tus-resumable': '1.0.0' };

export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const certificate = checkClientCredentials(options);
  const agent = new Agent({ connect: { cert: options.cert, key: options.key, ca: options.ca } });
  const base = options.baseUrl.replace(/\/+$/, '');
  const transferPath = (id: string, rest = ''): string => `/v1/transfers/${encodeURIComponent(id)}${rest}`;

  async function send(what: string, path: string, requestOptions: RequestOptions = {}): Promise<Dispatcher.ResponseData<unknown>> {
    let response: Dispatcher.ResponseData<unknown>;
    try {
      response = await request(`${base}${path}`, { ...requestOptions, dispatcher: agent });
    } catch (error) {
      throw new GatewayRequestError(what, error, await explainConnectionFailure(error, { ...options, certificate }));
    }
    if (response.statusCode < 200 || response.statusCode > 299) throw await problemOf(response);
    return response;
  }

  async function sendForJson<T>(what: string, path: string, requestOptions: RequestOptions = {}): Promise<T> {
    const response = await send(what, path, requestOptions);
    return (await response.body.json()) as T;
  }

  const postJson = <T>(what: string, path: string, body: unknown): Promise<T> =>
    sendForJson<T>(what, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const getTransfer = (id: string): Promise<TransferView> => sendForJson(`GET transfer ${id}`, transferPath(id));

  return {
    createTransfer: (manifest) => postJson('POST /v1/transfers', '/v1/transfers', manifest),

    uploadContent(id, source, sizeBytes, onProgress) {
      const counted = onProgress ? countChunks(source, sizeBytes, onProgress) : source;
      const body = counted instanceof Readable ? counted : Readable.from(counted, { objectMode: false });
      return sendForJson(`upload of ${id}`, transferPath(id, '/content'), {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(sizeBytes) },
        body,
      });
    },

    getTransfer,

    async createResumableUpload(id, sizeBytes) {
      const response = await send(`tus creation for ${id}`, transferPath(id, '/tus'), { method: 'POST', headers: { ...TUS_HEADERS, 'upload-length': String(sizeBytes) } });
      await response.body.dump();
    },

    async resumableOffset(id) {
      try {
        const response = await send(`tus HEAD of ${id}`, transferPath(id, '/tus'), { method: 'HEAD', headers: TUS_HEADERS });
        await response.body.dump();
        return Number(response.headers['upload-offset']);
      } catch (error) {
        if (error instanceof GatewayClientError && error.status === 404) return undefined;
        throw error;
      }
    },

    async appendResumable(id, offset, source, sizeBytes, onProgress) {
      const counted = onProgress ? countChunks(source, sizeBytes, (done, total) => onProgress(offset + done, total)) : source;
      const body = counted instanceof Readable ? counted : Readable.from(counted, { objectMode: false });
      const response = await send(`tus PATCH of ${id}`, transferPath(id, '/tus'), {
        method: 'PATCH',
        headers: { ...TUS_HEADERS, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset), 'content-length': String(sizeBytes - offset) },
        body,
      });
      await response.body.dump();
      return Number(response.headers['upload-offset']);
    },

    listTransfers(query) {
      const search = new URLSearchParams({ as: query.as });
      if (query.status !== undefined) search.set('status', query.status);
      if (query.after !== undefined) search.set('after', query.after);
      if (query.limit !== undefined) search.set('limit', String(query.limit));
      return sendForJson('GET /v1/transfers', `/v1/transfers?${search.toString()}`);
    },

    async waitForStatus(id, { until, intervalMs = 1000, timeoutMs = 10 * 60_000, onPoll }) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const record = await getTransfer(id);
        onPoll?.(record);
        if (until(record)) return record;
        if (Date.now() + intervalMs > deadline) throw new WaitTimeoutError(record, timeoutMs);
        await sleep(intervalMs);
      }
    },

    async downloadEnvelope(id, onProgress) {
      const response = await send(`download of ${id}`, transferPath(id, '/content'));
      const size = Number(response.headers['content-length'] ?? Number.NaN);
      if (!onProgress) return { stream: response.body, size };
      const counter = byteCounter(size, onProgress);
      // pipeline, not pipe: a cut download destroys the counter with the error its reader then sees,
      // and a reader that gives up (destroys the counter) releases the connection.
      pipeline(response.body, counter, () => undefined);
      return { stream: counter, size };
    },

    postReceipt: (id, sha256) => postJson(`receipt for ${id}`, transferPath(id, '/receipt'), { sha256 }),

    jwks: () => sendForJson('GET /.well-known/jwks.json', '/.well-known/jwks.json'),

    close: () => agent.close(),
  };
}
