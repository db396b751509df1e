// What is served in front of a transfer's stored body, in the two forms a download can take: the
// envelope form (the signed header; for a transfer stored as Crypt4GH, the signed binding followed
// by the Crypt4GH header, so that the whole is one file our tools check) or the plain Crypt4GH file
// (its header alone), which the recipient's own Crypt4GH tools read.
import { GatewayError } from '../errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { crypt4ghHeaderKey, envelopeKeys } from './envelope-objects.js';
import type { TransferRecord } from './transfer-record.js';

export type DownloadForm = 'hetao-envelope' | 'crypt4gh';

/**
 * The leading bytes of `record`'s content in `form`; undefined when an object is missing.
 * @throws GatewayError ERR_TRANSFER_FORMAT_UNAVAILABLE for the Crypt4GH form of a transfer stored as our envelope.
 */
export async function leadingBytesOf(objects: ObjectStore, record: Pick<TransferRecord, 'id' | 'contentFormat'>, form: DownloadForm): Promise<Buffer | undefined> {
  if (record.contentFormat !== 'crypt4gh') {
    if (form === 'crypt4gh') throw new GatewayError('ERR_TRANSFER_FORMAT_UNAVAILABLE', `transfer ${record.id} is stored as a Hetao envelope; it has no Crypt4GH form`);
    return objects.get(envelopeKeys(record.id)[0]);
  }
  const crypt4ghHeader = await objects.get(crypt4ghHeaderKey(record.id));
  if (form === 'crypt4gh' || !crypt4ghHeader) return crypt4ghHeader;
  const binding = await objects.get(envelopeKeys(record.id)[0]);
  return binding && Buffer.concat([binding, crypt4ghHeader]);
}
