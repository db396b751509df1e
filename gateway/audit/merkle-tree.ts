// The journal's Merkle tree (RFC 9162 §2.1) kept in memory as levels of completed perfect subtrees:
// level 0 holds every leaf hash, level k the hash of each aligned run of 2^k leaves. Appending is
// amortised O(1) hashes; any root, inclusion proof (§2.1.3.1) or consistency proof (§2.1.4.1) for a
// tree size up to the current one costs O(log² n) reads, because every node those algorithms need is
// either a stored perfect subtree or a right edge folded from O(log n) of them.
import { EMPTY_ROOT, HASH_BYTES, hashChildren } from './merkle-hash.js';

/** Hashes per storage chunk (1 MiB): growth never copies what is already stored. */
const CHUNK_HASHES = 1 << 15;

interface HashColumn {
  readonly length: number;
  push(hash: Uint8Array): void;
  get(index: number): Buffer;
}

function createHashColumn(): HashColumn {
  const chunks: Buffer[] = [];
  let length = 0;
  return {
    get length() {
      return length;
    },
    push(hash) {
      const offset = (length % CHUNK_HASHES) * HASH_BYTES;
      if (offset === 0) chunks.push(Buffer.allocUnsafe(CHUNK_HASHES * HASH_BYTES));
      (chunks[chunks.length - 1] as Buffer).set(hash, offset);
      length += 1;
    },
    get(index) {
      const chunk = chunks[Math.floor(index / CHUNK_HASHES)] as Buffer;
      const offset = (index % CHUNK_HASHES) * HASH_BYTES;
      return chunk.subarray(offset, offset + HASH_BYTES);
    },
  };
}

export interface MerkleTree {
  /** Number of leaves. */
  readonly size: number;
  append(leafHash: Uint8Array): void;
  leafHash(index: number): Buffer;
  /** MTH of the first `size` leaves (default: all). */
  rootHash(size?: number): Buffer;
  /** RFC 9162 PATH(index, D[size]): siblings from the leaf up. */
  inclusionProof(index: number, size: number): Buffer[];
  /** RFC 9162 PROOF(fromSize, D[toSize]); empty when fromSize is 0 or equals toSize. */
  consistencyProof(fromSize: number, toSize: number): Buffer[];
}

/** The largest power of two strictly below n (n ≥ 2). A loop, not log2: exact up to 2^53. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** log2(n) if n is a power of two, else -1. */
function powerOfTwoExponent(n: number): number {
  let exponent = 0;
  let k = 1;
  while (k < n) {
    k *= 2;
    exponent += 1;
  }
  return k === n ? exponent : -1;
}

/** An empty tree. Callers check ranges; the methods assume 0 ≤ index < size ≤ this.size. */
export function createMerkleTree(): MerkleTree {
  const levels: HashColumn[] = [createHashColumn()];
  /** edge[k]: the last node stored at level k while it waits for a right sibling (saves re-reading it). */
  const edge: Uint8Array[] = [];
  let size = 0;

  /** MTH(D[start : start + n]) for n ≥ 1. */
  function subtreeHash(start: number, n: number): Buffer {
    const exponent = powerOfTwoExponent(n);
    if (exponent >= 0 && start % n === 0) return (levels[exponent] as HashColumn).get(start / n);
    const k = splitPoint(n);
    return hashChildren(subtreeHash(start, k), subtreeHash(start + k, n - k));
  }

  function path(index: number, start: number, n: number, out: Buffer[]): void {
    if (n === 1) return;
    const k = splitPoint(n);
    if (index < k) {
      path(index, start, k, out);
      out.push(subtreeHash(start + k, n - k));
    } else {
      path(index - k, start + k, n - k, out);
      out.push(subtreeHash(start, k));
    }
  }

  function subproof(m: number, start: number, n: number, whole: boolean, out: Buffer[]): void {
    if (m === n) {
      if (!whole) out.push(subtreeHash(start, n));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      subproof(m, start, k, whole, out);
      out.push(subtreeHash(start + k, n - k));
    } else {
      subproof(m - k, start + k, n - k, false, out);
      out.push(subtreeHash(start, k));
    }
  }

  return {
    get size() {
      return size;
    },
    append(leafHash) {
      (levels[0] as HashColumn).push(leafHash);
      // Each odd index completes a pair at its level: hash it into the level above.
      let index = size;
      let level = 0;
      let node = leafHash;
      while (index % 2 === 1) {
        node = hashChildren(edge[level] as Uint8Array, node);
        level += 1;
        if (levels.length === level) levels.push(createHashColumn());
        (levels[level] as HashColumn).push(node);
        index = (index - 1) / 2;
      }
      edge[level] = node;
      size += 1;
    },
    leafHash(index) {
      return (levels[0] as HashColumn).get(index);
    },
    rootHash(treeSize = size) {
      return treeSize === 0 ? EMPTY_ROOT : subtreeHash(0, treeSize);
    },
    inclusionProof(index, treeSize) {
      const out: Buffer[] = [];
      path(index, 0, treeSize, out);
      return out;
    },
    consistencyProof(fromSize, toSize) {
      const out: Buffer[] = [];
      if (fromSize > 0 && fromSize < toSize) subproof(fromSize, 0, toSize, true, out);
      return out;
    },
  };
}
