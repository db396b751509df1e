// A peer's signed directory is taken only when it verifies with the key this side's registry holds
// for that peer, names the peer's origin, and is not older than the one held.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createGatewaySigner } from '../../gateway/envelope/gateway-signer.js';
import { parseRegistry, type PeerGateway } from '../../gateway/identity/registry.js';
import { createPeerDirectories } from '../../gateway/peering/peer-directories.js';
import { signDirectory, verifyDirectory } from '../../gateway/peering/signed-directory.js';
import { REGISTRY_FILE } from '../support/dev-pki.js';

const registry = parseRegistry(readFileSync(REGISTRY_FILE), REGISTRY_FILE);
const keyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const { kty, crv, x } = publicKey.export({ format: 'jwk' });
  return { pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), jwk: { kty: kty as 'OKP', crv: crv as 'Ed25519', x: x as string } };
};
const peerKeys = keyPair();
const peer: PeerGateway = { id: 'peer', name: 'Peer', operator: 'hetao-operator', apiUrl: 'https://peer.invalid', certificates: [], signingKey: peerKeys.jwk, logOrigin: 'peer.local/audit', witnessName: 'peer.local/witness' };
const signed = async (pem: string, origin = peer.logOrigin, now = new Date('2027-01-01T00:00:00Z')) => signDirectory(registry, { origin, signer: createGatewaySigner(pem), now });

describe('signed directories', () => {
  it('verify with the peer’s key: every institution with its status and keys, and the registry revision', async () => {
    const directory = await verifyDirectory(await signed(peerKeys.pem), peer);
    if (typeof directory === 'string') throw new Error(directory);
    expect(directory.revision).toBe(registry.revision);
    expect(directory.institutions.find((institution) => institution.id === 'hk-suspended-lab')).toMatchObject({ status: 'suspended', encryptionKey: { kty: 'EC' } });
  });

  it('are refused when signed by another key, or for another origin', async () => {
    expect(await verifyDirectory(await signed(keyPair().pem), peer)).toMatch(/does not verify/);
    expect(await verifyDirectory(await signed(peerKeys.pem, 'someone-else.local/audit'), peer)).toMatch(/not the peer's/);
  });

  it('never go back: an older directory replayed (a suspension undone) does not replace the one held', async () => {
    let served = await signed(peerKeys.pem, peer.logOrigin, new Date('2027-02-01T00:00:00Z'));
    const directories = createPeerDirectories({ get: async () => ({ status: 200, text: JSON.stringify({ jws: served }) }) });
    await directories.refresh(peer);
    expect(directories.of('peer')?.issuedAt).toBe('2027-02-01T00:00:00.000Z');
    served = await signed(peerKeys.pem, peer.logOrigin, new Date('2027-01-01T00:00:00Z'));
    await directories.refresh(peer);
    expect(directories.of('peer')?.issuedAt).toBe('2027-02-01T00:00:00.000Z');
    expect(directories.status().peer?.lastError).toMatch(/older than the one held/);
  });
});
