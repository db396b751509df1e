// The audit journal on a full disk, for real (a small tmpfs, see test/support/tmpfs.ts): an append
// that does not fit is refused with ERR_STORAGE_FULL and reported with the journal's path and errno;
// the journal refuses new work with that code from then on (it never writes after a failed write);
// the failed append is cut back off, so the file ends on a whole line, and after space is freed the
// reopened journal verifies with nothing to recover.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOURNAL_FILE } from '../../gateway/audit/create-audit-journal.js';
import { isGatewayError } from '../../gateway/errors.js';
import type { StorageFailure } from '../../gateway/storage/storage-errors.js';
import { verifyExport } from '../../gateway/audit/verify-export.js';
import { collect, devSigner, openJournal, transferEvent } from '../audit/support.js';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.js';

let tmpfs: Tmpfs | undefined;
beforeAll(async () => {
  tmpfs = await mountTmpfs(1024 * 1024);
});
afterAll(async () => {
  await tmpfs?.unmount();
});

describe('audit journal on a full disk', () => {
  it('refuses with ERR_STORAGE_FULL, keeps whole lines only, and verifies after space is freed', async () => {
    const dir = path.join((tmpfs as Tmpfs).dir, 'audit');
    const failures: StorageFailure[] = [];
    const journal = await openJournal(dir, { onStorageError: (failure) => failures.push(failure) });
    for (let i = 0; i < 5; i += 1) await journal.append(transferEvent(i));
    const file = path.join(dir, JOURNAL_FILE);
    const lengthBefore = (await stat(file)).size;

    await (tmpfs as Tmpfs).fill(0);
    // Larger than a page (4 KiB): it needs a page the disk does not have, and what fits in the
    // file's last page is written before ENOSPC.
    const large = { ...transferEvent(5), details: { note: 'x'.repeat(7000) } };
    const refused = await journal.append(large).catch((error: unknown) => error);
    expect(isGatewayError(refused) && refused.code).toBe('ERR_STORAGE_FULL');
    expect(failures).toEqual([{ code: 'ERR_STORAGE_FULL', errno: 'ENOSPC', path: file, operation: 'audit-append' }]);
    // Fail closed: no more entries once a write failed, with the same clear code.
    const next = await journal.append(transferEvent(6)).catch((error: unknown) => error);
    expect(isGatewayError(next) && next.code).toBe('ERR_STORAGE_FULL');
    expect(journal.status()).toMatchObject({ state: 'failed', size: 5 });

    // Nothing of the refused entry is left: the file ends where it ended, on a whole line.
    const bytes = await readFile(file);
    expect(bytes.length).toBe(lengthBefore);
    expect(bytes.at(-1)).toBe(0x0a);

    await (tmpfs as Tmpfs).empty();
    await journal.close();
    const reopened = await openJournal(dir);
    try {
      expect(reopened.status()).toMatchObject({ state: 'ok', size: 5, recovered: [] });
      await reopened.append(transferEvent(7));
      const verification = await verifyExport(Readable.from([await collect(reopened.exportRange())]), devSigner().publicJwks() as never);
      expect(verification).toMatchObject({ ok: true, entries: 6 });
    } finally {
      await reopened.close();
    }
  });
});
