// Pure verification of RFC 9162 proofs, for the export verifier and for any client holding a signed
// checkpoint: inclusion (§2.1.3.2) and consistency (§2.1.4.2), transcribed step by step. Sizes may
// exceed 2^32, so the bit operations are written as arithmetic (JS bitwise operators are 32-bit).
import { HASH_BYTES, hashChildren } from './merkle-hash.js';

export interface InclusionProofInput {
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly leafHash: Uint8Array;
  readonly proof: readonly Uint8Array[];
  readonly rootHash: Uint8Array;
}

export interface ConsistencyProofInput {
  readonly fromSize: number;
  readonly toSize: number;
  readonly fromRoot: Uint8Array;
  readonly toRoot: Uint8Array;
  readonly proof: readonly Uint8Array[];
}

const isSize = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
const odd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);
const isHash = (h: Uint8Array): boolean => h.length === HASH_BYTES;
const equal = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

/** The root an inclusion proof leads to, or undefined when the proof's shape cannot fit the sizes. */
export function rootFromInclusionProof(input: Omit<InclusionProofInput, 'rootHash'>): Buffer | undefined {
  const { leafIndex, treeSize, leafHash, proof } = input;
  if (!isSize(leafIndex) || !isSize(treeSize) || leafIndex >= treeSize) return undefined;
  if (!isHash(leafHash) || !proof.every(isHash)) return undefined;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    if (sn === 0) return undefined;
    if (odd(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 ? r : undefined;
}

/** True when `proof` shows the leaf at `leafIndex` is in the tree of `treeSize` leaves with `rootHash`. */
export function verifyInclusion(input: InclusionProofInput): boolean {
  const root = rootFromInclusionProof(input);
  return root !== undefined && isHash(input.rootHash) && equal(root, input.rootHash);
}

/**
 * True when `proof` shows the tree of `fromSize` leaves (root `fromRoot`) is a prefix of the tree of
 * `toSize` leaves (root `toRoot`). Equal sizes need an empty proof and equal roots; from size 0 needs
 * an empty proof (the empty tree is a prefix of every tree).
 */
export function verifyConsistency(input: ConsistencyProofInput): boolean {
  const { fromSize, toSize, fromRoot, toRoot, proof } = input;
  if (!isSize(fromSize) || !isSize(toSize) || fromSize > toSize) return false;
  if (!isHash(fromRoot) || !isHash(toRoot) || !proof.every(isHash)) return false;
  if (fromSize === toSize) return proof.length === 0 && equal(fromRoot, toRoot);
  if (fromSize === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  // Step 2: a power-of-two first tree is itself the first node of the path.
  const path = Number.isInteger(Math.log2(fromSize)) && 2 ** Math.log2(fromSize) === fromSize ? [fromRoot, ...proof] : [...proof];
  let fn = fromSize - 1;
  let sn = toSize - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = fr;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equal(fr, fromRoot) && equal(sr, toRoot);
}
