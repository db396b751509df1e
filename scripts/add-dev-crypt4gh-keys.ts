// Adds the DEVELOPMENT-ONLY Crypt4GH (X25519) keys to certs-dev/ without touching any existing file
// there: for each institution below that has none yet, `<id>.dev-only.c4gh.sec` (c4gh-v1, not
// passphrase-protected: dev keys are public anyway) and `.c4gh.pub`, and its `crypt4ghPublicKey` in
// policies/registry.yaml; and the gateway's processing key `gateway-processing.dev-only.c4gh.sec`.
// generate-dev-pki.ts runs it after regenerating everything; run alone: `tsx scripts/add-dev-crypt4gh-keys.ts`.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { formatCrypt4ghPublicKey, formatCrypt4ghSecretKey, generateX25519KeyPair, parseCrypt4ghPublicKey } from '../gateway/crypt4gh/crypt4gh-keys.js';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CERTS_DIR = join(PROJECT_ROOT, 'certs-dev');
const REGISTRY_FILE = join(PROJECT_ROOT, 'policies', 'registry.yaml');

/**
 * The institutions that register a Crypt4GH key in the dev zone: a genomics recipient on the
 * mainland side and the HGR office that escrow obligations name. The Hong Kong genomics lab keeps
 * only its JWK key, so both kinds of genomics recipient exist to test.
 */
export const CRYPT4GH_INSTITUTIONS = ['hetao-sz-institute', 'nhc-hgr-office'] as const;

async function ensureKeyPair(base: string, comment: string): Promise<Buffer> {
  const secretFile = join(CERTS_DIR, `${base}.c4gh.sec`);
  const publicFile = join(CERTS_DIR, `${base}.c4gh.pub`);
  if (existsSync(publicFile) && existsSync(secretFile)) return parseCrypt4ghPublicKey(readFileSync(publicFile, 'utf8'));
  const { secretKey, publicKey } = generateX25519KeyPair();
  writeFileSync(secretFile, await formatCrypt4ghSecretKey(secretKey, undefined, comment), { mode: 0o600 });
  writeFileSync(publicFile, formatCrypt4ghPublicKey(publicKey));
  return publicKey;
}

export async function addDevCrypt4ghKeys(): Promise<void> {
  await ensureKeyPair('gateway-processing.dev-only', 'hetao gateway processing key (DEVELOPMENT ONLY)');
  const registry = parseDocument(readFileSync(REGISTRY_FILE, 'utf8'));
  const institutions = registry.get('institutions') as { items: { get(key: string): unknown; set(key: string, value: unknown): void }[] };
  let changed = false;
  for (const id of CRYPT4GH_INSTITUTIONS) {
    const publicKey = await ensureKeyPair(`institutions/${id}.dev-only`, `${id} (DEVELOPMENT ONLY)`);
    const entry = institutions.items.find((item) => item.get('id') === id);
    if (!entry) throw new Error(`${id} is not in ${REGISTRY_FILE}`);
    if (entry.get('crypt4ghPublicKey') !== publicKey.toString('base64')) {
      entry.set('crypt4ghPublicKey', publicKey.toString('base64'));
      changed = true;
    }
  }
  if (changed) writeFileSync(REGISTRY_FILE, registry.toString({ lineWidth: 0 }));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await addDevCrypt4ghKeys();
