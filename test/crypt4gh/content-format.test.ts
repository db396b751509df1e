// Which format a transfer's content is stored in, decided when it is authorized.
import { describe, expect, it } from 'vitest';
import type { Party } from '../../gateway/policy/decision-input.js';
import type { Manifest } from '../../gateway/policy/manifest.js';
import { chooseContentFormat } from '../../gateway/transfer/content-format.js';

const party = (id: string, crypt4gh: boolean): { id: string; party: Party } => ({
  id,
  party: { id, jurisdiction: 'CN', zone: 'hetao-sz', status: 'active', ...(crypt4gh ? { crypt4ghPublicKey: Buffer.alloc(32, 9).toString('base64') } : {}) },
});
const manifest = (category: Manifest['dataset']['category'], deliveryFormat?: Manifest['deliveryFormat']): Manifest =>
  ({ dataset: { category }, ...(deliveryFormat ? { deliveryFormat } : {}) }) as unknown as Manifest;

describe('chooseContentFormat', () => {
  it('stores genomics as Crypt4GH when every holder has a Crypt4GH key, as our envelope otherwise', () => {
    expect(chooseContentFormat(manifest('genomics'), [party('lab', true), party('escrow', true)])).toBe('crypt4gh');
    expect(chooseContentFormat(manifest('genomics'), [party('lab', true), party('escrow', false)])).toBe('hetao-envelope');
    expect(chooseContentFormat(manifest('genomics'), [party('lab', false)])).toBe('hetao-envelope');
    expect(chooseContentFormat(manifest('medical-records'), [party('lab', true)])).toBe('hetao-envelope');
  });

  it('follows the manifest, and refuses Crypt4GH asked for a holder without a key', () => {
    expect(chooseContentFormat(manifest('genomics', 'hetao-envelope'), [party('lab', true)])).toBe('hetao-envelope');
    expect(chooseContentFormat(manifest('research-other', 'crypt4gh'), [party('lab', true)])).toBe('crypt4gh');
    expect(() => chooseContentFormat(manifest('research-other', 'crypt4gh'), [party('lab', true), party('escrow', false)])).toThrow(
      expect.objectContaining({ code: 'ERR_MANIFEST_INVALID', message: expect.stringContaining('escrow') }),
    );
    expect(() => chooseContentFormat(manifest('genomics', 'crypt4gh'), [{ id: 'unknown', party: undefined }])).toThrow(expect.objectContaining({ code: 'ERR_MANIFEST_INVALID' }));
  });
});
