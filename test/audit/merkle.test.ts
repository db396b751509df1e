// The Merkle tree and proofs against the language-neutral test vectors of transparency-dev/merkle
// (fixtures/), and against an independent few-line implementation of RFC 9162 §2.1 written here.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EMPTY_ROOT, encodeHash, hashLeaf } from '../../gateway/audit/merkle-hash.js';
import { createMerkleTree } from '../../gateway/audit/merkle-tree.js';
import { rootFromInclusionProof, verifyConsistency, verifyInclusion } from '../../gateway/audit/verify-proof.js';

interface InclusionVector { file: string; leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; wantErr: boolean }
interface ConsistencyVector { file: string; size1: number; size2: number; root1: string; root2: string; proof: string[] | null; wantErr: boolean }
const vectors = JSON.parse(readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/transparency-dev-merkle-vectors.json'), 'utf8')) as {
  inclusion: InclusionVector[];
  consistency: ConsistencyVector[];
};
const b64 = (text: string): Buffer => Buffer.from(text, 'base64');

// ---- An independent implementation, straight from the RFC's recursive definitions (no shared code).
const sha = (...parts: Uint8Array[]): Buffer => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
const leafOf = (data: Uint8Array): Buffer => sha(Buffer.from([0]), data);
const nodeOf = (l: Uint8Array, r: Uint8Array): Buffer => sha(Buffer.from([1]), l, r);
const split = (n: number): number => 2 ** Math.ceil(Math.log2(n) - 1); // largest power of two < n
const mth = (d: Buffer[]): Buffer => (d.length === 0 ? sha() : d.length === 1 ? (d[0] as Buffer) : nodeOf(mth(d.slice(0, split(d.length))), mth(d.slice(split(d.length)))));
function pathOf(m: number, d: Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  const k = split(d.length);
  return m < k ? [...pathOf(m, d.slice(0, k)), mth(d.slice(k))] : [...pathOf(m - k, d.slice(k)), mth(d.slice(0, k))];
}
function subproofOf(m: number, d: Buffer[], whole: boolean): Buffer[] {
  if (m === d.length) return whole ? [] : [mth(d)];
  const k = split(d.length);
  return m <= k ? [...subproofOf(m, d.slice(0, k), whole), mth(d.slice(k))] : [...subproofOf(m - k, d.slice(k), false), mth(d.slice(0, k))];
}
/** Root from an inclusion path by the recursive split, not by RFC 9162's bit-walking verifier. */
function rootFromPath(index: number, size: number, leaf: Buffer, proof: Buffer[]): Buffer | undefined {
  if (size === 1) return proof.length === 0 ? leaf : undefined;
  const last = proof.at(-1);
  if (!last) return undefined;
  const k = split(size);
  const inner = index < k ? rootFromPath(index, k, leaf, proof.slice(0, -1)) : rootFromPath(index - k, size - k, leaf, proof.slice(0, -1));
  return inner && (index < k ? nodeOf(inner, last) : nodeOf(last, inner));
}
// ----

/** The eight leaves RFC 6962's and transparency-dev's test trees are built from. */
const RFC6962_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((hex) => Buffer.from(hex, 'hex'));

describe('transparency-dev/merkle test vectors', () => {
  it.each(vectors.inclusion.map((v) => [v.file, v] as const))('inclusion %s', (_file, v) => {
    const ok = verifyInclusion({ leafIndex: v.leafIdx, treeSize: v.treeSize, leafHash: b64(v.leafHash), proof: (v.proof ?? []).map(b64), rootHash: b64(v.root) });
    expect(ok).toBe(!v.wantErr);
  });

  it.each(vectors.consistency.map((v) => [v.file, v] as const))('consistency %s', (_file, v) => {
    const ok = verifyConsistency({ fromSize: v.size1, toSize: v.size2, fromRoot: b64(v.root1), toRoot: b64(v.root2), proof: (v.proof ?? []).map(b64) });
    expect(ok).toBe(!v.wantErr);
  });

  it('our tree over the RFC 6962 leaves produces the vectors’ roots and proofs', () => {
    const tree = createMerkleTree();
    for (const leaf of RFC6962_LEAVES) tree.append(hashLeaf(leaf));
    for (const v of vectors.inclusion.filter((x) => !x.wantErr)) {
      expect(encodeHash(tree.rootHash(v.treeSize))).toBe(v.root);
      expect(encodeHash(tree.leafHash(v.leafIdx))).toBe(v.leafHash);
      expect(tree.inclusionProof(v.leafIdx, v.treeSize).map(encodeHash)).toEqual(v.proof ?? []);
    }
    for (const v of vectors.consistency.filter((x) => !x.wantErr)) {
      expect(encodeHash(tree.rootHash(v.size2))).toBe(v.root2);
      expect(tree.consistencyProof(v.size1, v.size2).map(encodeHash)).toEqual(v.proof ?? []);
    }
    expect(tree.rootHash(0).equals(EMPTY_ROOT)).toBe(true);
    expect(encodeHash(EMPTY_ROOT)).toBe('47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
  });
});

describe('against an independent implementation', () => {
  const MAX = 70;
  const leaves = Array.from({ length: MAX }, (_, i) => leafOf(Buffer.from(`entry ${i}`)));
  const tree = createMerkleTree();
  for (const leaf of leaves) tree.append(leaf);

  it('roots agree for every size up to 70', () => {
    for (let n = 0; n <= MAX; n += 1) expect(tree.rootHash(n).equals(mth(leaves.slice(0, n))), `size ${n}`).toBe(true);
  });

  it('inclusion proofs agree and verify both ways for every (index, size)', () => {
    for (let n = 1; n <= MAX; n += 1) {
      const root = mth(leaves.slice(0, n));
      for (let m = 0; m < n; m += 1) {
        const proof = tree.inclusionProof(m, n);
        expect(proof.map(encodeHash), `${m}/${n}`).toEqual(pathOf(m, leaves.slice(0, n)).map(encodeHash));
        expect(verifyInclusion({ leafIndex: m, treeSize: n, leafHash: leaves[m] as Buffer, proof, rootHash: root })).toBe(true);
        expect(rootFromPath(m, n, leaves[m] as Buffer, proof)?.equals(root)).toBe(true);
        if (n > 1) expect(verifyInclusion({ leafIndex: (m + 1) % n, treeSize: n, leafHash: leaves[m] as Buffer, proof, rootHash: root })).toBe(false);
      }
    }
  });

  it('consistency proofs agree and verify for every (from, to); a flipped bit fails', () => {
    for (let n = 1; n <= MAX; n += 1) {
      for (let m = 1; m <= n; m += 1) {
        const proof = tree.consistencyProof(m, n);
        expect(proof.map(encodeHash), `${m}→${n}`).toEqual(m === n ? [] : subproofOf(m, leaves.slice(0, n), true).map(encodeHash));
        const input = { fromSize: m, toSize: n, fromRoot: tree.rootHash(m), toRoot: tree.rootHash(n), proof };
        expect(verifyConsistency(input), `${m}→${n}`).toBe(true);
        if (proof.length > 0) {
          const bad = proof.map((h) => Buffer.from(h));
          const last = bad[bad.length - 1] as Buffer;
          last[5] = (last[5] as number) ^ 0x10;
          expect(verifyConsistency({ ...input, proof: bad })).toBe(false);
        }
        if (m < n) expect(verifyConsistency({ ...input, toRoot: tree.rootHash(n - 1) })).toBe(false);
      }
    }
  });

  it('rejects impossible shapes without throwing', () => {
    const leaf = leaves[0] as Buffer;
    expect(rootFromInclusionProof({ leafIndex: 5, treeSize: 5, leafHash: leaf, proof: [] })).toBeUndefined();
    expect(rootFromInclusionProof({ leafIndex: -1, treeSize: 5, leafHash: leaf, proof: [] })).toBeUndefined();
    expect(rootFromInclusionProof({ leafIndex: 0.5, treeSize: 5, leafHash: leaf, proof: [] })).toBeUndefined();
    expect(rootFromInclusionProof({ leafIndex: 0, treeSize: 2, leafHash: leaf.subarray(1), proof: [leaf] })).toBeUndefined();
    expect(verifyConsistency({ fromSize: 3, toSize: 2, fromRoot: leaf, toRoot: leaf, proof: [] })).toBe(false);
  });

  it('handles tree sizes beyond 2^32 (arithmetic, not 32-bit bit operations)', () => {
    // A perfect left subtree of 2^33 leaves and one more leaf: the proof of that leaf is [left root].
    const size = 2 ** 33 + 1;
    const leftRoot = leafOf(Buffer.from('left'));
    const leaf = leafOf(Buffer.from('right'));
    const root = nodeOf(leftRoot, leaf);
    expect(verifyInclusion({ leafIndex: size - 1, treeSize: size, leafHash: leaf, proof: [leftRoot], rootHash: root })).toBe(true);
    expect(verifyInclusion({ leafIndex: size - 2, treeSize: size, leafHash: leaf, proof: [leftRoot], rootHash: root })).toBe(false);
  });
});
