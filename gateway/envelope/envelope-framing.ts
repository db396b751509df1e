// The bytes in front of an envelope's body: magic `HETAOENV`, version byte, uint32 BE length of the
// header JWS, the header JWS. The gateway stores header and body apart and joins them on download
// with this framing; readers parse it back before they touch the header.
import { GatewayError } from '../errors.js';
import { ENVELOPE_VERSION } from './envelope-header.js';

export const ENVELOPE_MAGIC = Buffer.from('HETAOENV', 'ascii');
/** magic(8) ‖ version(1) ‖ header length(4). */
export const PREFIX_FIXED_BYTES = ENVELOPE_MAGIC.length + 1 + 4;
/** A header holds a handful of wrapped keys; anything near this is not ours and would only cost memory. */
export const MAX_HEADER_BYTES = 1024 * 1024;

/**
 * magic ‖ 0x01 ‖ uint32 BE length ‖ header JWS: everything of an envelope before its first segment.
 * @throws GatewayError `ERR_ENVELOPE_FORMAT` when the JWS is not ASCII or exceeds the header limit.
 */
export function frameEnvelopePrefix(headerJws: string): Buffer {
  if (!/^[\x21-\x7e]+$/.test(headerJws)) throw new GatewayError('ERR_ENVELOPE_FORMAT', 'the header JWS must be printable ASCII');
  if (headerJws.length > MAX_HEADER_BYTES) throw new GatewayError('ERR_ENVELOPE_FORMAT', `the header JWS is ${headerJws.length} bytes, over ${MAX_HEADER_BYTES}`);
  const prefix = Buffer.alloc(PREFIX_FIXED_BYTES + headerJws.length);
  ENVELOPE_MAGIC.copy(prefix, 0);
  prefix[ENVELOPE_MAGIC.length] = ENVELOPE_VERSION;
  prefix.writeUInt32BE(headerJws.length, ENVELOPE_MAGIC.length + 1);
  prefix.write(headerJws, PREFIX_FIXED_BYTES, 'ascii');
  return prefix;
}

/**
 * The header length announced by the first {@link PREFIX_FIXED_BYTES} bytes of an envelope.
 * @throws GatewayError `ERR_ENVELOPE_FORMAT` for a wrong magic, an unknown version or an impossible length.
 */
export function parseEnvelopePrefix(fixed: Uint8Array): { headerLength: number } {
  const bytes = Buffer.from(fixed.buffer, fixed.byteOffset, fixed.byteLength);
  if (bytes.length < PREFIX_FIXED_BYTES || !bytes.subarray(0, ENVELOPE_MAGIC.length).equals(ENVELOPE_MAGIC)) {
    throw new GatewayError('ERR_ENVELOPE_FORMAT', 'not a Hetao envelope (the file does not start with HETAOENV)');
  }
  const version = bytes[ENVELOPE_MAGIC.length];
  if (version !== ENVELOPE_VERSION) {
    throw new GatewayError('ERR_ENVELOPE_FORMAT', `envelope version ${String(version)} is not supported (this reader knows ${ENVELOPE_VERSION})`);
  }
  const headerLength = bytes.readUInt32BE(ENVELOPE_MAGIC.length + 1);
  if (headerLength === 0 || headerLength > MAX_HEADER_BYTES) {
    throw new GatewayError('ERR_ENVELOPE_FORMAT', `header length ${headerLength} is outside 1…${MAX_HEADER_BYTES}`);
  }
  return { headerLength };
}
