// Where a transfer's envelope lives in the object store: the one definition of its keys.

/** Header (framing prefix with the signed JWS) and body of a transfer's envelope. */
export function envelopeKeys(id: string): [header: string, body: string] {
  return [`envelopes/${id}.header`, `envelopes/${id}.body`];
}

/** The data key wrapped to the gateway's processing key (a JWE), kept only while stages are pending. */
export function processingWrapKey(id: string): string {
  return `envelopes/${id}.processing`;
}

/**
 * A transfer stored as Crypt4GH: its Crypt4GH header (the packets sealing the data key to each
 * holder), apart from the body so that a packet can be added or removed without rewriting it. The
 * header key then holds the gateway's signed binding instead of an envelope header.
 */
export function crypt4ghHeaderKey(id: string): string {
  return `envelopes/${id}.c4gh`;
}

/** Every object a transfer's content may have left: what cancellation, failure and expiry delete. */
export function contentKeys(id: string): string[] {
  return [...envelopeKeys(id), processingWrapKey(id), crypt4ghHeaderKey(id)];
}
