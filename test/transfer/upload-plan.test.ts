// What an upload plans before its first byte: which holders the data key is wrapped to. A transfer to
// a recipient served by the peer gateway always gets the processing wrap (the forward stage re-wraps it
// to the peer's processing key), also when this side inspects it in full while it streams and so
// needs no wrap of its own: without it a peer whose rules inspect would have to refuse it.
import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { planUpload, type UploadDependencies, type UploadRoute } from '../../gateway/transfer/upload-transfer.js';
import type { TransferRecord } from '../../gateway/transfer/transfer-record.js';
import { devFile } from '../support/dev-pki.js';
import { anonymisedResearchManifest } from '../support/manifests.js';

const publicJwk = (file: string) => createPublicKey(readFileSync(devFile(file), 'utf8')).export({ format: 'jwk' }) as Record<string, string>;
const recipientKey = publicJwk('institutions/hk-uni-genomics.dev-only.enc.key.pem');
const processingKey = publicJwk('gateway-processing.dev-only.key.pem');

function recordOf(sizeBytes: number): TransferRecord {
  const manifest = anonymisedResearchManifest(Buffer.alloc(0));
  return {
    id: 'tr-000000001-0123456789abcdef',
    sender: 'sz-hospital',
    recipient: 'hk-uni-genomics',
    manifest: { ...manifest, recipient: 'hk-uni-genomics', dataset: { ...manifest.dataset, sizeBytes } },
    obligations: { escrowTo: [] },
    decision: { decisionId: 'd-1', policyRevision: 'r-1' },
  } as unknown as TransferRecord;
}

const deps = {
  lookupInstitution: (id: string) => (id === 'hk-uni-genomics' ? { id, jurisdiction: 'HK', zone: 'hetao-hk', status: 'active', encryptionKey: recipientKey, servedBy: 'hetao-hk-gateway' } : undefined),
  processingPublicJwk: processingKey,
  sealingThreads: {},
} as unknown as UploadDependencies;

const forwarded: UploadRoute = { queued: true, stages: ['inspect', 'forward'] };
const local: UploadRoute = { queued: true, stages: ['inspect'] };

describe('the processing wrap of an upload', () => {
  it('a large upload across the channel, inspected in full while it streams, still gets it for the peer', () => {
    const plan = planUpload(deps, recordOf(8 * 1024 * 1024), forwarded);
    expect(plan.inspectorOptions.mode).toBe('full');
    expect(plan.wrapHolders.processingHolder).toMatchObject({ role: 'processing', jwk: processingKey });
  });

  it('a small one across the channel gets it too', () => {
    expect(planUpload(deps, recordOf(1000), forwarded).wrapHolders.processingHolder).toMatchObject({ role: 'processing' });
  });

  it('a large upload on this side only, inspected while it streams, gets none: no stage needs the key', () => {
    expect(planUpload(deps, recordOf(8 * 1024 * 1024), local).wrapHolders.processingHolder).toBeUndefined();
  });
});
