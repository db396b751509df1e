// How a transfer's content is stored and delivered, fixed when it is authorized: our envelope, or
// Crypt4GH for genomics recipients whose own tools read it (docs/crypt4gh.md). A manifest may ask
// for either; otherwise genomic data goes as Crypt4GH when every holder (recipient and escrow)
// registered a Crypt4GH key, since only then can every one of them open it.
import { GatewayError } from '../errors.js';
import type { Party } from '../policy/decision-input.js';
import type { Manifest } from '../policy/manifest.js';

export type ContentFormat = 'hetao-envelope' | 'crypt4gh';

/**
 * @param holders the recipient and the escrow holders the decision names (undefined: not registered).
 * @throws GatewayError ERR_MANIFEST_INVALID when the manifest asks for Crypt4GH and a holder has no Crypt4GH key.
 */
export function chooseContentFormat(manifest: Manifest, holders: readonly { id: string; party: Party | undefined }[]): ContentFormat {
  const missing = holders.filter(({ party }) => !party?.crypt4ghPublicKey).map(({ id }) => id);
  if (manifest.deliveryFormat === 'crypt4gh' && missing.length > 0) {
    throw new GatewayError('ERR_MANIFEST_INVALID', `deliveryFormat crypt4gh needs a registered Crypt4GH key for every holder; ${missing.join(', ')} has none`, {
      problems: [{ path: '/deliveryFormat', message: `no Crypt4GH key registered for ${missing.join(', ')}` }],
    });
  }
  if (manifest.deliveryFormat) return manifest.deliveryFormat;
  return manifest.dataset.category === 'genomics' && missing.length === 0 ? 'crypt4gh' : 'hetao-envelope';
}
