// This gateway's client side of the channel: requests to a peer gateway's peering routes over mutual
// TLS, with this gateway's client certificate, trusting only the zone CAs. One keep-alive pool per
// process. Answers come back as status and JSON body; a network failure rejects (the caller decides
// whether that is a wait or a failure).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { ENVELOPE_MEDIA_TYPE, type PushTls } from '../delivery/push-envelope.js';
import type { PeerGateway } from '../identity/registry.js';

export interface PeerAnswer {
  readonly status: number;
  /** The parsed JSON body (problem details on refusals); undefined when it is not JSON. */
  readonly body: Record<string, unknown> | undefined;
}

/** Small requests (an offer, a receipt): answered in seconds or the peer is not well. */
const REQUEST_TIMEOUT_MS = 30_000;
/** An envelope: no byte for this long, either way, and the attempt is given up (the body of a large one takes minutes, but never pauses that long). */
const ENVELOPE_IDLE_MS = 120_000;

const base = (peer: PeerGateway): string => peer.apiUrl.replace(/\/+$/, '');

async function answerOf(response: { statusCode: number; body: { text(): Promise<string> } }): Promise<PeerAnswer> {
  const text = await response.body.text();
  let body: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    body = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.statusCode, body };
}

export function createPeerClient(tls: PushTls) {
  const agent = new Agent({ connect: { cert: tls.cert, key: tls.key, ca: [...tls.ca] } });

  const postJson = async (url: string, payload: unknown): Promise<PeerAnswer> =>
    answerOf(
      await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      }),
    );

  return {
    /** POST /v1/peering/transfers: the signed forward record (and the processing wrap for the peer), for its decision. */
    offer(peer: PeerGateway, offer: { readonly forward: string; readonly processingWrap?: unknown }): Promise<PeerAnswer> {
      return postJson(`${base(peer)}/v1/peering/transfers`, offer);
    },

    /**
     * PUT /v1/peering/transfers/:id/envelope: the stored envelope, streamed, hashed as it goes.
     * Resolves with the answer and the SHA-256 of the bytes sent.
     */
    async sendEnvelope(peer: PeerGateway, transferId: string, envelope: AsyncIterable<Uint8Array>, envelopeSize: number): Promise<PeerAnswer & { readonly sentSha256: string }> {
      const hash = createHash('sha256');
      const hashed = Readable.from(
        (async function* () {
          for await (const chunk of envelope) {
            hash.update(chunk);
            yield chunk;
          }
        })(),
        { objectMode: false },
      );
      const response = await request(`${base(peer)}/v1/peering/transfers/${encodeURIComponent(transferId)}/envelope`, {
        method: 'PUT',
        dispatcher: agent,
        headers: { 'content-type': ENVELOPE_MEDIA_TYPE, 'content-length': String(envelopeSize) },
        body: hashed,
        headersTimeout: ENVELOPE_IDLE_MS,
        bodyTimeout: ENVELOPE_IDLE_MS,
      });
      return { ...(await answerOf(response)), sentSha256: hash.digest('hex') };
    },

    /** POST /v1/peering/transfers/:id/receipt: the recipient's receipt with this gateway's proof of its journal entry. */
    sendReceipt(peer: PeerGateway, transferId: string, receipt: unknown): Promise<PeerAnswer> {
      return postJson(`${base(peer)}/v1/peering/transfers/${encodeURIComponent(transferId)}/receipt`, receipt);
    },

    close(): Promise<void> {
      return agent.close();
    },
  };
}

export type PeerClient = ReturnType<typeof createPeerClient>;
