// The witness's add-checkpoint (C2SP tlog-witness v1.0.0) with real keys and real trees: a log built
// with the journal's Merkle tree signs its checkpoints with the journal's note signer; the witness,
// on the file witness state in a temporary folder, cosigns what extends what it cosigned, and answers
// every other submission with the status the spec prescribes (400, 403, 404, 409 with the size it
// holds, 422), telling the operators when the log contradicts itself.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCheckpointNoteSigner, formatCheckpointNoteText, type CheckpointNoteSigner } from '../../gateway/audit/checkpoint-note.js';
import { EMPTY_ROOT, encodeHash, hashLeaf } from '../../gateway/audit/merkle-hash.js';
import { createMerkleTree, type MerkleTree } from '../../gateway/audit/merkle-tree.js';
import { GatewayError } from '../../gateway/errors.js';
import { createCosigner, verifyCosignature, type Cosigner } from '../../gateway/witness/cosignature.js';
import { openFileWitnessState } from '../../gateway/witness/file-witness-state.js';
import { createTlogWitness, type TlogWitness, type WitnessConflict } from '../../gateway/witness/tlog-witness.js';
import type { WitnessState } from '../../gateway/witness/witness-state.js';

const ORIGIN = 'gateway.sz.hetao.example/audit';
const WITNESS = 'gateway.hk.hetao.example/witness';
const NOW = Date.parse('2025-03-01T08:00:00.000Z');

function ed25519(): { pem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicKey };
}

/** A log: a Merkle tree of `entry <i>` leaves whose checkpoints a note key signs. */
interface TestLog {
  readonly tree: MerkleTree;
  readonly signer: CheckpointNoteSigner;
  readonly publicKey: KeyObject;
  grow(size: number, prefix?: string): void;
  checkpointText(size: number, root?: Buffer): string;
  /** The signed note of the checkpoint at `size`. */
  note(size: number, root?: Buffer): string;
}

function createTestLog(key = ed25519(), name = ORIGIN): TestLog {
  const tree = createMerkleTree();
  const signer = createCheckpointNoteSigner({ name, privateKeyPem: key.pem });
  const log: TestLog = {
    tree,
    signer,
    publicKey: key.publicKey,
    grow(size, prefix = 'entry') {
      while (tree.size < size) tree.append(hashLeaf(Buffer.from(`${prefix} ${tree.size}`)));
    },
    checkpointText: (size, root = tree.rootHash(size)) => formatCheckpointNoteText({ origin: ORIGIN, treeSize: size, rootHash: encodeHash(root) }),
    note(size, root) {
      const text = log.checkpointText(size, root);
      return `${text}\n${signer.sign(text)}`;
    },
  };
  return log;
}

/** An add-checkpoint body. */
function body(oldSize: number, proof: readonly Buffer[], note: string): string {
  return `old ${oldSize}\n${proof.map((hash) => `${encodeHash(hash)}\n`).join('')}\n${note}`;
}

/** The body a log's client sends to go from `oldSize` to `size`. */
const growth = (log: TestLog, oldSize: number, size: number): string => body(oldSize, log.tree.consistencyProof(oldSize, size), log.note(size));

/** Resolves to the GatewayError `work` rejects with (fails if it resolves). */
async function refusal(work: Promise<unknown>): Promise<GatewayError> {
  const outcome = await work.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a refusal, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(GatewayError);
  return outcome.error as GatewayError;
}

describe('tlog-witness add-checkpoint', () => {
  let dir: string;
  let state: WitnessState;
  let log: TestLog;
  let cosigner: Cosigner;
  let cosignerKey: KeyObject;
  let witness: TlogWitness;
  let conflicts: WitnessConflict[];
  let now: number;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hetao-witness-'));
    state = await openFileWitnessState({ dir });
    log = createTestLog();
    log.grow(32);
    const key = ed25519();
    cosigner = createCosigner({ name: WITNESS, privateKeyPem: key.pem });
    cosignerKey = key.publicKey;
    conflicts = [];
    now = NOW;
    witness = createTlogWitness({
      state,
      trustedLogs: (origin) => (origin === ORIGIN ? { name: ORIGIN, publicKey: log.publicKey } : undefined),
      cosigner,
      clock: () => new Date(now),
      onConflict: (event) => conflicts.push(event),
    });
  });
  afterEach(async () => {
    await state.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Expects `cosignatures` to be one valid cosignature of the checkpoint at `size`, at the clock's second. */
  const expectCosigned = (cosignatures: string, size: number, root?: Buffer): void => {
    expect(cosignatures).toMatch(/^— \S+ \S+\n$/);
    expect(verifyCosignature(cosignatures, log.checkpointText(size, root), { name: WITNESS, publicKey: cosignerKey })).toEqual({ time: Math.floor(now / 1000) });
  };

  describe('cosigns', () => {
    it('a first checkpoint with old 0, and stores it before answering', async () => {
      const { cosignatures } = await witness.addCheckpoint(growth(log, 0, 5));
      expectCosigned(cosignatures, 5);
      expect(await state.get(ORIGIN)).toEqual({ origin: ORIGIN, treeSize: 5, rootHash: encodeHash(log.tree.rootHash(5)), checkpoint: log.note(5), cosignedAt: new Date(NOW).toISOString() });
    });

    it('growth with a valid consistency proof, step after step (powers of two and not)', async () => {
      let held = 0;
      for (const size of [1, 2, 3, 4, 7, 8, 13, 16, 17, 32]) {
        now += 1000;
        expectCosigned((await witness.addCheckpoint(growth(log, held, size))).cosignatures, size);
        held = size;
      }
      expect((await state.get(ORIGIN))?.treeSize).toBe(32);
    });

    it('the same checkpoint again (old = size, same root, empty proof)', async () => {
      await witness.addCheckpoint(growth(log, 0, 9));
      now += 60_000;
      expectCosigned((await witness.addCheckpoint(growth(log, 9, 9))).cosignatures, 9);
    });

    it('an empty log (size 0, the empty root), then its first entries', async () => {
      expect(log.tree.rootHash(0).equals(EMPTY_ROOT)).toBe(true);
      expectCosigned((await witness.addCheckpoint(growth(log, 0, 0))).cosignatures, 0);
      expect((await state.get(ORIGIN))?.treeSize).toBe(0);
      expectCosigned((await witness.addCheckpoint(growth(log, 0, 3))).cosignatures, 3);
    });

    it('a note that also carries signatures of keys it does not know (ignored)', async () => {
      const stranger = createTestLog(ed25519(), 'monitor.example/m1');
      const text = log.checkpointText(6);
      const note = `${text}\n${stranger.signer.sign(text)}${log.signer.sign(text)}`;
      expectCosigned((await witness.addCheckpoint(body(0, [], note))).cosignatures, 6);
    });
  });

  describe('409: old is not the size cosigned last', () => {
    it('answers the size it holds (0 before any), and changes nothing', async () => {
      const never = await refusal(witness.addCheckpoint(growth(log, 3, 5)));
      expect(never).toMatchObject({ code: 'ERR_WITNESS_SIZE_CONFLICT', status: 409, details: { treeSize: 0 } });
      await witness.addCheckpoint(growth(log, 0, 5));
      for (const old of [0, 3, 4, 6]) {
        expect(await refusal(witness.addCheckpoint(growth(log, old, 8)))).toMatchObject({ code: 'ERR_WITNESS_SIZE_CONFLICT', status: 409, details: { treeSize: 5 } });
      }
      expect((await state.get(ORIGIN))?.treeSize).toBe(5);
    });

    it("two submissions racing from the same old size: one is cosigned, the other told the winner's size", async () => {
      await witness.addCheckpoint(growth(log, 0, 5));
      for (const [first, second] of [
        [8, 13],
        [21, 21],
      ] as const) {
        const held = (await state.get(ORIGIN))?.treeSize as number;
        const outcomes = await Promise.allSettled([witness.addCheckpoint(growth(log, held, first)), witness.addCheckpoint(growth(log, held, second))]);
        const cosigned = outcomes.filter((outcome) => outcome.status === 'fulfilled');
        const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as GatewayError] : []));
        expect(cosigned).toHaveLength(1);
        const winner = outcomes[0]?.status === 'fulfilled' ? first : second;
        expect(refused).toHaveLength(1);
        expect(refused[0]).toMatchObject({ code: 'ERR_WITNESS_SIZE_CONFLICT', status: 409, details: { treeSize: winner } });
        expect((await state.get(ORIGIN))?.treeSize).toBe(winner);
      }
    });

    it('both past the size check before either stores: the compare-and-store decides, and the loser gets no cosignature', async () => {
      await witness.addCheckpoint(growth(log, 0, 5));
      // Holds each store until both submissions have reached theirs, so both read size 5 first.
      let arrived = 0;
      let release = (): void => undefined;
      const bothArrived = new Promise<void>((resolve) => (release = resolve));
      const gated: WitnessState = {
        get: (origin) => state.get(origin),
        async compareAndStore(origin, expectedSize, next) {
          arrived += 1;
          if (arrived === 2) release();
          await bothArrived;
          return state.compareAndStore(origin, expectedSize, next);
        },
        close: () => state.close(),
      };
      const racing = createTlogWitness({ state: gated, trustedLogs: () => ({ name: ORIGIN, publicKey: log.publicKey }), cosigner, clock: () => new Date(now) });
      const outcomes = await Promise.allSettled([racing.addCheckpoint(growth(log, 5, 9)), racing.addCheckpoint(growth(log, 5, 11))]);
      expect(arrived).toBe(2);
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected']);
      expect(outcomes[1]?.status === 'rejected' ? outcomes[1].reason : undefined).toMatchObject({ code: 'ERR_WITNESS_SIZE_CONFLICT', status: 409, details: { treeSize: 9 } });
      expect((await state.get(ORIGIN))?.treeSize).toBe(9);
    });
  });

  describe('422: the checkpoint cannot extend what was cosigned', () => {
    it('a consistency proof that does not verify: refused, reported as inconsistent, nothing stored', async () => {
      await witness.addCheckpoint(growth(log, 0, 5));
      const proof = log.tree.consistencyProof(5, 13);
      const bent = proof.map((hash, i) => (i === 1 ? hashLeaf(hash) : hash));
      const wrongLength = proof.slice(0, -1);
      for (const bad of [bent, wrongLength, []]) {
        expect(await refusal(witness.addCheckpoint(body(5, bad, log.note(13))))).toMatchObject({ code: 'ERR_WITNESS_INCONSISTENT', status: 422 });
      }
      expect(conflicts).toHaveLength(3);
      expect(conflicts[0]).toEqual({ origin: ORIGIN, kind: 'inconsistent', treeSize: 13, knownSize: 5, knownRoot: encodeHash(log.tree.rootHash(5)), presentedRoot: encodeHash(log.tree.rootHash(13)) });
      expect((await state.get(ORIGIN))?.treeSize).toBe(5);
    });

    it('a log that forked: its checkpoint of the cosigned size with another root is a split view', async () => {
      await witness.addCheckpoint(growth(log, 0, 8));
      const fork = createTestLog();
      fork.grow(8, 'forged');
      const forkedRoot = fork.tree.rootHash(8);
      expect(await refusal(witness.addCheckpoint(body(8, [], log.note(8, forkedRoot))))).toMatchObject({ code: 'ERR_WITNESS_INCONSISTENT', status: 422, details: { kind: 'split-view' } });
      expect(conflicts).toEqual([{ origin: ORIGIN, kind: 'split-view', treeSize: 8, knownSize: 8, knownRoot: encodeHash(log.tree.rootHash(8)), presentedRoot: encodeHash(forkedRoot) }]);
      // And a later checkpoint of the fork cannot be joined to what was cosigned either.
      fork.grow(12, 'forged');
      expect(await refusal(witness.addCheckpoint(body(8, fork.tree.consistencyProof(8, 12), log.note(12, fork.tree.rootHash(12)))))).toMatchObject({ code: 'ERR_WITNESS_INCONSISTENT' });
      expect(conflicts.map((conflict) => conflict.kind)).toEqual(['split-view', 'inconsistent']);
      expect(await state.get(ORIGIN)).toMatchObject({ treeSize: 8, rootHash: encodeHash(log.tree.rootHash(8)) });
    });

    it('a proof sent with old 0, and a size-0 checkpoint without the empty root (no conflict reported: nothing was contradicted)', async () => {
      expect(await refusal(witness.addCheckpoint(body(0, [log.tree.leafHash(0)], log.note(5))))).toMatchObject({ code: 'ERR_WITNESS_INCONSISTENT', status: 422 });
      expect(await refusal(witness.addCheckpoint(body(0, [], log.note(0, log.tree.rootHash(1)))))).toMatchObject({ code: 'ERR_WITNESS_INCONSISTENT', status: 422 });
      expect(conflicts).toEqual([]);
      expect(await state.get(ORIGIN)).toBeUndefined();
    });

    it('a non-empty proof between equal sizes', async () => {
      await witness.addCheckpoint(growth(log, 0, 6));
      expect(await refusal(witness.addCheckpoint(body(6, [log.tree.leafHash(0)], log.note(6))))).toMatchObject({ code: 'ERR_WITNESS_INCONSISTENT', status: 422 });
    });
  });

  describe('403 and 404: whose checkpoint it is', () => {
    it("403 when no signature is from the trusted key: another key under the log's name", async () => {
      const impostor = createTestLog();
      impostor.grow(5);
      expect(await refusal(witness.addCheckpoint(growth(impostor, 0, 5)))).toMatchObject({ code: 'ERR_WITNESS_SIGNATURE_INVALID', status: 403 });
    });

    it("403 when the trusted key's line does not verify: a flipped signature byte, or a text changed after signing", async () => {
      const text = log.checkpointText(5);
      const line = log.signer.sign(text);
      const blob = Buffer.from(line.trimEnd().split(' ')[2] as string, 'base64');
      blob[10] = (blob[10] as number) ^ 1;
      const flipped = `— ${ORIGIN} ${blob.toString('base64')}\n`;
      expect(await refusal(witness.addCheckpoint(body(0, [], `${text}\n${flipped}`)))).toMatchObject({ code: 'ERR_WITNESS_SIGNATURE_INVALID', status: 403 });
      // One good and one failing line of the trusted key: a known key failing rejects the note.
      expect(await refusal(witness.addCheckpoint(body(0, [], `${text}\n${line}${flipped}`)))).toMatchObject({ code: 'ERR_WITNESS_SIGNATURE_INVALID', status: 403 });
      const moved = log.checkpointText(6, log.tree.rootHash(5));
      expect(await refusal(witness.addCheckpoint(body(0, [], `${moved}\n${line}`)))).toMatchObject({ code: 'ERR_WITNESS_SIGNATURE_INVALID', status: 403 });
      expect(await state.get(ORIGIN)).toBeUndefined();
    });

    it('404 for an origin it does not witness', async () => {
      const text = formatCheckpointNoteText({ origin: 'gateway.elsewhere.example/audit', treeSize: 5, rootHash: encodeHash(log.tree.rootHash(5)) });
      expect(await refusal(witness.addCheckpoint(body(0, [], `${text}\n${log.signer.sign(text)}`)))).toMatchObject({ code: 'ERR_WITNESS_LOG_UNKNOWN', status: 404 });
    });
  });

  describe('400: malformed', () => {
    const note5 = (): string => log.note(5);
    const text5 = (): string => log.checkpointText(5);
    const cases: [string, () => string][] = [
      ['an empty body', () => ''],
      ['no old line', () => `\n${note5()}`],
      ['old with a leading zero', () => `old 00\n\n${note5()}`],
      ['old negative', () => `old -1\n\n${note5()}`],
      ['old not a number', () => `old five\n\n${note5()}`],
      ['old beyond 2^53', () => `old 18446744073709551615\n\n${note5()}`],
      ['a proof line that is not base64 of 32 bytes', () => `old 0\nAAAA\n\n${note5()}`],
      ['64 proof lines', () => body(0, Array.from({ length: 64 }, (_, i) => log.tree.leafHash(i % 32)), note5())],
      ['no empty line before the note', () => `old 0\n${note5()}`.replace('\n\n—', '\n—')],
      ['a body that ends in the proof', () => `old 0\n${encodeHash(log.tree.leafHash(0))}\n`],
      ['a note without signature lines', () => `old 0\n\n${text5()}\n`],
      ['a note without its final newline', () => `old 0\n\n${note5().trimEnd()}`],
      ['a carriage return in the note', () => `old 0\n\n${note5().replace(/\n/g, '\r\n')}`],
      ['a tab in the note', () => `old 0\n\n${note5().replace('\n5\n', '\n5\t\n')}`],
      ['a signature line with a hyphen for the em dash', () => `old 0\n\n${note5().replace('— ', '- ')}`],
      ['a size with a leading zero', () => `old 0\n\n${note5().replace('\n5\n', '\n05\n')}`],
      ['a root that is not 32 bytes', () => `old 0\n\n${ORIGIN}\n5\nAAAA\n\n${log.signer.sign(`${ORIGIN}\n5\nAAAA\n`)}`],
      ['no origin', () => `old 0\n\n\n5\n${encodeHash(log.tree.rootHash(5))}\n\n${log.signer.sign(`\n5\n${encodeHash(log.tree.rootHash(5))}\n`)}`],
      ['old above the checkpoint size', () => body(6, [], note5())],
    ];
    it.each(cases)('%s', async (_, make) => {
      expect(await refusal(witness.addCheckpoint(make()))).toMatchObject({ code: 'ERR_WITNESS_REQUEST_INVALID', status: 400 });
      expect(await state.get(ORIGIN)).toBeUndefined();
    });
  });
});
