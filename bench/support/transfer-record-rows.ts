// Synthetic transfer records for the record benches, in the shape the gateway stores them: one
// record per status, built with the state machine's own `transition` from an authorized record with a
// real manifest and decision (content facts, inspection summary, receipts, delivery and history as an
// upload and its stages leave them), turned into JSON templates once; each row then fills in its id,
// parties, times and decision id. The spread is deterministic (seeded): `institutions` institutions
// of very different sizes (weights 1/rank^0.7: a few big hospitals, a long tail), ids over two years,
// statuses by age as a gateway that has run that long has them (STATUSES_BY_AGE).
import { parseManifest } from '../../gateway/policy/manifest.js';
import { transition, type TransferRecord, type TransferStatus } from '../../gateway/transfer/transfer-record.js';

export interface RecordRow {
  readonly id: string;
  readonly sender: string;
  readonly recipient: string;
  readonly status: TransferStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly retentionUntil: string;
  readonly decisionId: string;
  readonly pendingStages: boolean;
  readonly lease: { readonly holder: string; readonly expiresAt: string } | undefined;
  /** The record as JSON, revision 1 (as the store would hold it after its first save). */
  readonly json: string;
}

/**
 * How statuses depend on a record's age, as on a gateway that has run for two years with 90 days of
 * retention: the newest are still moving, most of the last 90 days were received, older ones expired.
 * A list filtered by status therefore finds its records in one part of the id range — which is what
 * makes walking the newest ids and filtering them the wrong plan for, say, `expired`.
 */
const STATUSES_BY_AGE: readonly { readonly youngerThanDays: number; readonly shares: Partial<Record<TransferStatus, number>> }[] = [
  { youngerThanDays: 2, shares: { authorized: 0.25, uploading: 0.08, queued: 0.08, processing: 0.04, available: 0.25, delivered: 0.05, received: 0.2, cancelled: 0.04, quarantined: 0.01 } },
  { youngerThanDays: 90, shares: { received: 0.62, available: 0.1, delivered: 0.1, authorized: 0.06, quarantined: 0.04, cancelled: 0.06, failed: 0.02 } },
  { youngerThanDays: Number.POSITIVE_INFINITY, shares: { expired: 0.88, cancelled: 0.07, failed: 0.02, received: 0.03 } },
];

const DAY_MS = 86_400_000;
const SPAN_MS = 2 * 365 * DAY_MS;
const START = Date.parse('2024-01-01T00:00:00.000Z');
const RETENTION_MS = 90 * DAY_MS;
const HOUR_MS = 3_600_000;

/** mulberry32: a small seeded generator, so every run (and both stores) gets the same records. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Picks from `items` by cumulative weights. */
export function weightedPicker<T>(items: readonly T[], weights: readonly number[]): (random: () => number) => T {
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  let running = 0;
  const cumulative = weights.map((weight) => (running += weight / total));
  return (random) => {
    const x = random();
    let low = 0;
    let high = cumulative.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((cumulative[mid] as number) < x) low = mid + 1;
      else high = mid;
    }
    return items[low] as T;
  };
}

export const institutionName = (rank: number): string => `inst-${String(rank + 1).padStart(3, '0')}`;

/** Institutions by rank and their weights (share of the transfers they send or receive). */
export function institutions(count: number): { names: string[]; weights: number[] } {
  const names = Array.from({ length: count }, (_, rank) => institutionName(rank));
  return { names, weights: names.map((_, rank) => 1 / (rank + 1) ** 0.7) };
}

const MARK = (name: string): string => `@@${name}@@`;

function authorizedRecord(): TransferRecord {
  const parsed = parseManifest({
    recipient: 'inst-recipient',
    project: { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' },
    purpose: 'joint-research',
    approvals: [{ type: 'ethics', id: 'IRB-2024-0113' }],
    consent: { basis: 'separate-consent', reference: 'consent-form-v3' },
    retentionDays: 90,
    dataset: {
      category: 'genomics',
      format: 'vcf',
      genomicScope: 'exome',
      classification: { level: 'L3' },
      deidentification: 'pseudonymised',
      subjects: 480,
      humanGeneticResources: true,
      sizeBytes: 734_003_200,
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    },
  });
  const manifest = { ...parsed, recipient: MARK('RECIPIENT') };
  const obligations = { requireApprovals: ['ethics'], escrowTo: [], recipientReceipt: true, fullInspection: true, noOnwardTransfer: true };
  const at = MARK('CREATED');
  return {
    id: MARK('ID'),
    status: 'authorized',
    sender: MARK('SENDER'),
    recipient: MARK('RECIPIENT'),
    createdAt: at,
    updatedAt: at,
    retentionUntil: MARK('RETENTION'),
    manifest,
    manifestSha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    decision: {
      decisionId: MARK('DECISION'),
      time: at,
      effect: 'allow',
      policyRevision: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae',
      input: {
        sender: MARK('SENDER'),
        recipient: MARK('RECIPIENT'),
        direction: 'sz-to-hk',
        manifestSha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
        project: 'proj-hk-sz-cancer-genomics',
        purpose: 'joint-research',
        category: 'genomics',
        level: 'L3',
        deidentification: 'pseudonymised',
        subjects: 480,
        humanGeneticResources: true,
        sizeBytes: 734_003_200,
      },
      matchedRules: ['allow-genomics-with-ethics', 'escrow-none-within-gba'],
      reasons: [],
      obligations,
      evalMicros: 41,
    },
    obligations,
    receipts: [],
    history: [{ at, status: 'authorized', event: 'authorized', by: `${MARK('SENDER')}/lab-system`, detail: { decisionId: MARK('DECISION') } }],
    revision: 1,
  };
}

/** The record of one status, as the gateway's operations leave it (history included). */
const TRANSITION_TIME = new Date('2000-01-01T00:00:00.000Z');

function recordIn(status: TransferStatus): TransferRecord {
  const at = TRANSITION_TIME;
  const by = 'gateway';
  const authorized = authorizedRecord();
  if (status === 'authorized') return authorized;
  if (status === 'cancelled') return transition(authorized, 'cancelled', { at, event: 'cancelled', by });
  const uploading = { ...transition(authorized, 'uploading', { at, event: 'upload-started', by }), lease: { holder: 'gateway-b', expiresAt: MARK('UPDATED') } };
  if (status === 'uploading') return uploading;
  const { lease: _released, ...uploaded } = uploading;
  const content = {
    plaintextSize: 734_003_200,
    plaintextSha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    envelopeSize: 734_199_912,
    holders: [{ institution: MARK('RECIPIENT'), role: 'recipient' as const }],
  };
  const inspection = {
    detectedFormat: 'vcf',
    declaredFormat: 'vcf',
    formatMatches: true,
    compression: 'bgzf',
    bytesSeen: 734_003_200,
    bytesInflated: 268_435_456,
    bytesScanned: 268_435_456,
    sampled: true,
    vcf: { sampleColumns: 480 },
    findings: [{ kind: 'sample-ids', severity: 'info', count: 480, message: 'sample column headers look like pseudonyms', firstOffsets: [1_204, 1_219, 1_234, 1_249, 1_264] }],
    outcome: 'pass',
    reasons: [],
  };
  if (status === 'quarantined') {
    return transition(uploaded, 'quarantined', { at, event: 'quarantined', by, detail: { reasons: ['identifiers-found'] } }, { content, inspection: { ...inspection, outcome: 'quarantine', reasons: ['identifiers-found'] } });
  }
  const queued = transition(uploaded, 'queued', { at, event: 'queued', by, detail: { stages: ['inspect'] } }, { content, inspection, pendingStages: ['inspect'] });
  if (status === 'queued') return queued;
  const processing = transition(queued, 'processing', { at, event: 'processing-started', by });
  if (status === 'processing') return processing;
  if (status === 'failed') return transition(processing, 'failed', { at, event: 'processing-failed', by, detail: { reason: 'inspection worker gave up' } }, { pendingStages: [] });
  const available = transition(processing, 'available', { at, event: 'processing-completed', by, detail: { reasons: [] } }, { inspection: { ...inspection, full: { ...inspection, sampled: false } }, pendingStages: [] });
  if (status === 'available') return available;
  const delivery = { endpoint: 'https://lab.example.org/hetao/inbox', envelopeSha256: 'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb', acknowledgedAt: MARK('UPDATED'), duplicate: false };
  if (status === 'delivered') return transition(available, 'delivered', { at, event: 'delivered', by, detail: { endpoint: delivery.endpoint } }, { delivery });
  const receipts = [{ at: MARK('UPDATED'), by: `${MARK('RECIPIENT')}/lab-system`, sha256: content.plaintextSha256, matches: true }];
  const received = transition(available, 'received', { at, event: 'received', by: `${MARK('RECIPIENT')}/lab-system`, detail: { sha256: content.plaintextSha256 } }, { receipts });
  if (status === 'received') return received;
  return transition(received, 'expired', { at, event: 'retention-expired', by });
}

type Template = readonly string[];

/** The record's JSON split at its marks: even parts literal, odd parts the names of the fields filled in. */
const templateOf = (status: TransferStatus): Template =>
  JSON.stringify({ ...recordIn(status), updatedAt: MARK(status === 'authorized' ? 'CREATED' : 'UPDATED') })
    // The history's changes after the first happened when the record was last updated.
    .replaceAll(`"${TRANSITION_TIME.toISOString()}"`, `"${MARK('UPDATED')}"`)
    .split(/@@([A-Z]+)@@/);

/**
 * `count` rows, oldest first (ids are time-ordered, as the gateway makes them), the same for a given seed.
 */
export function* recordRows(count: number, options: { institutions: number; seed: number }): Generator<RecordRow> {
  const random = seededRandom(options.seed);
  const { names, weights } = institutions(options.institutions);
  const party = weightedPicker(names, weights);
  const bands = STATUSES_BY_AGE.map(({ youngerThanDays, shares }) => ({
    youngerThanMs: youngerThanDays * DAY_MS,
    pick: weightedPicker(Object.keys(shares) as TransferStatus[], Object.values(shares)),
  }));
  const templates = new Map<TransferStatus, Template>();
  for (let n = 0; n < count; n += 1) {
    const created = START + Math.floor((n / count) * SPAN_MS);
    const sender = party(random);
    let recipient = party(random);
    while (recipient === sender) recipient = party(random);
    const age = START + SPAN_MS - created;
    const status = (bands.find((band) => age < band.youngerThanMs) ?? bands[bands.length - 1])?.pick(random) as TransferStatus;
    const id = `tr-${created.toString(36).padStart(9, '0')}-${Math.floor(random() * 2 ** 32).toString(16).padStart(8, '0')}${n.toString(16).padStart(8, '0')}`;
    const fields: Record<string, string> = {
      ID: id,
      SENDER: sender,
      RECIPIENT: recipient,
      CREATED: new Date(created).toISOString(),
      UPDATED: new Date(created + HOUR_MS).toISOString(),
      RETENTION: new Date(created + RETENTION_MS).toISOString(),
      DECISION: `dec-${id.slice(3)}`,
    };
    let template = templates.get(status);
    if (!template) templates.set(status, (template = templateOf(status)));
    let json = '';
    for (let i = 0; i < template.length; i += 1) json += i % 2 === 0 ? template[i] : fields[template[i] as string];
    yield {
      id,
      sender,
      recipient,
      status,
      createdAt: fields.CREATED as string,
      updatedAt: fields.UPDATED as string,
      retentionUntil: fields.RETENTION as string,
      decisionId: fields.DECISION as string,
      pendingStages: status === 'queued' || status === 'processing',
      lease: status === 'uploading' ? { holder: 'gateway-b', expiresAt: fields.UPDATED as string } : undefined,
      json,
    };
  }
}
