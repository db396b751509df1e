// Durable file steps (gateway/durable/durable-files.ts) on real files, run as jobs in real pool
// threads: each step is whole, a failing step reports the system's error code without stopping the
// others, and an append that does not fit (a real full tmpfs) is cut back off.
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDurableFiles, type DurableFiles } from '../../gateway/durable/durable-files.js';
import { runJob } from '../../gateway/durable/durable-files-thread.js';
import { createThreadPool, type ThreadPool } from '../../gateway/threads/thread-pool.js';
import { mountTmpfs } from '../support/tmpfs.js';

let dir: string;
let pool: ThreadPool<'io' | 'bulk'>;
let files: DurableFiles;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-durable-'));
  pool = createThreadPool({ lanes: { io: { threads: 2 }, bulk: { threads: 1, niceness: 10 } } });
  files = createDurableFiles(pool);
});
afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

describe('durable files', () => {
  it('put writes a new file whole and renames it into place', async () => {
    const final = path.join(dir, 'a.json');
    await expect(files.put(`${final}.tmp`, final, Buffer.from('{"a":1}'))).resolves.toBe(7);
    expect(await readFile(final, 'utf8')).toBe('{"a":1}');
    await expect(stat(`${final}.tmp`)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('put with handOver moves the bytes to the thread instead of copying them', async () => {
    const final = path.join(dir, 'moved.body');
    const bytes = new Uint8Array(300_000).fill(9);
    await expect(files.put(`${final}.tmp`, final, bytes, { handOver: true })).resolves.toBe(300_000);
    expect(bytes.byteLength).toBe(0); // detached here
    expect((await readFile(final)).equals(Buffer.alloc(300_000, 9))).toBe(true);
  });

  it('write puts chunks at the file position in order, moving whole buffers and copying views', async () => {
    const file = path.join(dir, 'written.body');
    const fd = openSync(file, 'wx');
    try {
      const whole = Buffer.from(new Uint8Array(200_000).fill(1).buffer);
      const backing = Buffer.alloc(100_000, 2);
      const view = backing.subarray(10, 50_010);
      await expect(files.write(fd, [whole, view], { sync: false })).resolves.toBe(250_000);
      await expect(files.write(fd, [Buffer.from('end')], { sync: true })).resolves.toBe(3);
      expect(whole.byteLength).toBe(0); // moved to the thread: detached here
      expect(view.byteLength).toBe(50_000); // a view of a larger buffer is copied, left as it was
      expect((await readFile(file)).equals(Buffer.concat([Buffer.alloc(200_000, 1), Buffer.alloc(50_000, 2), Buffer.from('end')]))).toBe(true);
    } finally {
      closeSync(fd);
    }
  });

  it('a write answers its whole buffers back (to be collected by the event loop, not piled up in the thread), never a view', async () => {
    const file = path.join(dir, 'given-back.bin');
    const fd = openSync(file, 'w');
    try {
      const whole = new Uint8Array(1024).fill(1);
      const backing = new Uint8Array(100).fill(2);
      const view = backing.subarray(10, 20);
      const answer = await runJob({ kind: 'write', fd, chunks: [whole, view, whole], sync: false });
      expect(answer.value).toBe(1024 + 10 + 1024);
      expect(answer.transfer).toEqual([whole.buffer]);
    } finally {
      closeSync(fd);
    }
  });

  it('commit renames a written file into place and answers its size', async () => {
    const final = path.join(dir, 'b.body');
    await writeFile(`${final}.tmp`, Buffer.alloc(12_345));
    await expect(files.commit(`${final}.tmp`, final)).resolves.toBe(12_345);
    expect((await stat(final)).size).toBe(12_345);
  });

  it('append adds to the end of an open file, one append after another', async () => {
    const file = path.join(dir, 'journal');
    const fd = openSync(file, 'a');
    try {
      for (let i = 0; i < 20; i += 1) await files.append(fd, Buffer.from(`line ${i}\n`));
    } finally {
      closeSync(fd);
    }
    expect((await readFile(file, 'utf8')).split('\n').slice(0, -1)).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i}`));
  });

  it('puts arriving while the io threads are busy go out together, each succeeding or failing on its own', async () => {
    // Two io threads, 60 puts at once: most of them wait and leave as batches (one job each).
    const folders = ['g1', 'g2', 'g3'].map((name) => path.join(dir, name));
    for (const folder of folders) await mkdir(folder);
    const blocked = path.join(folders[1]!, 'p7.tmp');
    await writeFile(blocked, 'someone else'); // the temp of put 7 exists: EEXIST for it alone
    const puts = Array.from({ length: 60 }, (_, index) => {
      const final = path.join(folders[index % 3]!, `p${index}`);
      const bytes = Buffer.from(`put ${index}`);
      return files.put(`${final}.tmp`, final, index % 2 === 0 ? new Uint8Array(bytes) : bytes, { handOver: index % 2 === 0 });
    });
    const settled = await Promise.allSettled(puts);
    settled.forEach((outcome, index) => {
      if (index === 7) expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'EEXIST' } });
      else expect(outcome).toEqual({ status: 'fulfilled', value: `put ${index}`.length });
    });
    for (let index = 0; index < 60; index += 1) {
      const final = path.join(folders[index % 3]!, `p${index}`);
      if (index === 7) await expect(stat(final)).rejects.toMatchObject({ code: 'ENOENT' });
      else expect(await readFile(final, 'utf8')).toBe(`put ${index}`);
    }
    expect(await readFile(blocked, 'utf8')).toBe('someone else');
  });

  it('a put into a folder that is not there fails alone (ENOENT); the others of its batch land', async () => {
    const missing = path.join(dir, 'no-such-folder', 'x');
    const puts = [files.put(`${missing}.tmp`, missing, Buffer.from('x'))];
    for (let index = 0; index < 10; index += 1) {
      const final = path.join(dir, `fine-${index}`);
      puts.push(files.put(`${final}.tmp`, final, Buffer.from('fine')));
    }
    const settled = await Promise.allSettled(puts);
    expect(settled[0]).toMatchObject({ status: 'rejected', reason: { code: 'ENOENT' } });
    expect(settled.slice(1).every((outcome) => outcome.status === 'fulfilled')).toBe(true);
  });

  it('failures carry the system error code, and the threads go on', async () => {
    const taken = path.join(dir, 'taken');
    await writeFile(taken, 'x');
    await expect(files.put(taken, path.join(dir, 'c'), Buffer.from('y'))).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(files.commit(path.join(dir, 'missing'), path.join(dir, 'd'))).rejects.toMatchObject({ code: 'ENOENT' });
    const readOnly = openSync(taken, 'r');
    try {
      await expect(files.append(readOnly, Buffer.from('z'))).rejects.toMatchObject({ code: 'EBADF' });
    } finally {
      closeSync(readOnly);
    }
    const final = path.join(dir, 'e');
    await expect(files.put(`${final}.tmp`, final, Buffer.from('ok'))).resolves.toBe(2);
  });
});

describe('durable files on a full disk', () => {
  it('an append that does not fit fails with ENOSPC and is cut back off: the file ends where it ended', async () => {
    const tmpfs = await mountTmpfs(1024 * 1024);
    try {
      const file = path.join(tmpfs.dir, 'log');
      const fd = openSync(file, 'a');
      try {
        await files.append(fd, Buffer.from('kept line\n'));
        await tmpfs.fill(0);
        // Larger than a page: what fits in the file's last page is written before ENOSPC.
        await expect(files.append(fd, Buffer.alloc(64 * 1024, 0x61))).rejects.toMatchObject({ code: 'ENOSPC' });
      } finally {
        closeSync(fd);
      }
      expect(await readFile(file, 'utf8')).toBe('kept line\n');
      await expect(files.put(path.join(tmpfs.dir, 'x.tmp'), path.join(tmpfs.dir, 'x'), Buffer.alloc(64 * 1024))).rejects.toMatchObject({ code: 'ENOSPC' });
    } finally {
      await tmpfs.unmount();
    }
  });
});
