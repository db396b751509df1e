// The journal's Merkle tree (RFC 9162 §2.1) kept in memory as levels of completed perfect subtrees:
// level 0 holds every leaf hash, level k the hash of each aligned run of 2^k leaves. Appending is
// amortised O(1) hashes; any root, inclusion proof (§2.1.3.1) or consistency proof (§2.1.4.1) for a
// tree size up to the current one costs O(log² n) reads, because every node those algorithms need is
// either a stored perfect subtree or a right edge folded from O(log n) of them.
import { EMPTY_ROOT, HASH_BYTES, hashAdjacentChildren, hashChildren } from './merkle-hash.js';

/** Hashes per storage chunk, at most (1 MiB): growth never copies what is already stored. */
const CHUNK_HASHES = 1 << 15;
/** The smallest chunk appends allocate: a level that only gets a node now and then stays small. */
const MIN_CHUNK_HASHES = 64;

interface HashColumn {
  readonly length: number;
  push(hash: Uint8Array): void;
  /** Appends the hashes laid end to end in `hashes`, keeping that very array as their storage. */
  adopt(hashes: Uint8Array): void;
  get(index: number): Buffer;
}

/**
 * A column of hashes in chunks: those push() allocates (an eighth of the column's length, between
 * MIN_CHUNK_HASHES and CHUNK_HASHES), and whole arrays handed over by adopt() — a worker thread's
 * hashes are stored without copying them, sparing the gateway's thread the copy and the memory.
 */
function createHashColumn(): HashColumn {
  const chunks: Buffer[] = [];
  const firsts: number[] = []; // index of each chunk's first hash
  let length = 0;
  let room = 0; // free hashes at the end of the last chunk

  /** The chunk holding hash `index` (< length): usually the last; else a binary search. */
  function chunkOf(index: number): number {
    let high = chunks.length - 1;
    if (index >= (firsts[high] as number)) return high;
    let low = 0;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((firsts[mid] as number) <= index) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  return {
    get length() {
      return length;
    },
    push(hash) {
      if (room === 0) {
        room = Math.min(CHUNK_HASHES, Math.max(MIN_CHUNK_HASHES, length >> 3));
        chunks.push(Buffer.allocUnsafe(room * HASH_BYTES));
        firsts.push(length);
      }
      const last = chunks.length - 1;
      (chunks[last] as Buffer).set(hash, (length - (firsts[last] as number)) * HASH_BYTES);
      length += 1;
      room -= 1;
    },
    adopt(hashes) {
      if (hashes.length === 0) return;
      chunks.push(Buffer.from(hashes.buffer, hashes.byteOffset, hashes.byteLength));
      firsts.push(length);
      length += hashes.length / HASH_BYTES;
      room = 0;
    },
    get(index) {
      const chunk = chunkOf(index);
      const offset = (index - (firsts[chunk] as number)) * HASH_BYTES;
      return (chunks[chunk] as Buffer).subarray(offset, offset + HASH_BYTES);
    },
  };
}

export interface MerkleTree {
  /** Number of leaves. */
  readonly size: number;
  append(leafHash: Uint8Array): void;
  /**
   * Appends many leaves at once. levels[0] holds their hashes end to end; levels[k], if given, the
   * hashes of the perfect subtrees of 2^k leaves lying wholly among them (hashSubtreeLevels): only
   * the nodes straddling the old and new leaves are hashed here. The tree keeps the arrays given.
   */
  appendLeaves(levels: readonly Uint8Array[]): void;
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
    appendLeaves(given) {
      const newSize = size + (given[0] as Uint8Array).length / HASH_BYTES;
      (levels[0] as HashColumn).adopt(given[0] as Uint8Array);
      for (let level = 1, width = 2; width <= newSize; level += 1, width *= 2) {
        if (levels.length === level) levels.push(createHashColumn());
        const column = levels[level] as HashColumn;
        const below = levels[level - 1] as HashColumn;
        const nodes = Math.floor(newSize / width);
        const precomputed = given[level];
        const firstPrecomputed = Math.ceil(size / width);
        while (column.length < nodes) {
          const next = column.length;
          if (precomputed !== undefined && next === firstPrecomputed && precomputed.length > 0) {
            column.adopt(precomputed.subarray(0, Math.min(precomputed.length, (nodes - next) * HASH_BYTES)));
          } else {
            column.push(hashChildren(below.get(2 * next), below.get(2 * next + 1)));
          }
        }
      }
      // append() expects edge[k] to be the last node of level k whenever that level has an odd count.
      for (let level = 0; level < levels.length; level += 1) {
        const column = levels[level] as HashColumn;
        if (column.length % 2 === 1) edge[level] = column.get(column.length - 1);
      }
      size = newSize;
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

/**
 * The levels of the perfect subtrees lying wholly within `leaves` (hashes end to end) when the first
 * of them is leaf number `firstLeaf` of the tree: [leaves, level 1, level 2, …], each as long as
 * alignment allows. Meant for worker threads; MerkleTree.appendLeaves adopts the result.
 */
export function hashSubtreeLevels(leaves: Uint8Array, firstLeaf: number): Uint8Array[] {
  const result = [leaves];
  let below = leaves;
  let first = firstLeaf; // index, within its level, of below's first node
  let count = leaves.length / HASH_BYTES;
  for (;;) {
    // Parents whose two children are both in `below`; if there are none, there are none higher up either.
    const parentFirst = Math.ceil(first / 2);
    const parents = Math.floor((first + count) / 2) - parentFirst;
    if (parents <= 0) return result;
    below = hashParents(below, (2 * parentFirst - first) * HASH_BYTES, parents);
    result.push(below);
    first = parentFirst;
    count = parents;
  }
}

/** The `parents` nodes over the pairs of hashes in `below` from byte `skip` on (its own function: the hot loop). */
function hashParents(below: Uint8Array, skip: number, parents: number): Uint8Array {
  const level = new Uint8Array(parents * HASH_BYTES);
  // hashAdjacentChildren reads 32-bit words: copy `below` if it does not start on a word boundary.
  const aligned = below.byteOffset % 4 === 0 ? below : below.slice();
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4);
  for (let i = 0; i < parents; i += 1) hashAdjacentChildren(words, (skip + 2 * i * HASH_BYTES) / 4, level, i * HASH_BYTES);
  return level;
}
