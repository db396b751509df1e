// File jobs (gateway/file-jobs.ts) on real files in real threads: each job is one whole durable step,
// and a failing step reports the system's error code without stopping the others.
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileJobs, type FileJobs } from '../../gateway/durable/file-jobs.js';

let dir: string;
let jobs: FileJobs;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-file-jobs-'));
  jobs = createFileJobs({ threads: 2 });
});
afterAll(async () => {
  await jobs.close();
  await rm(dir, { recursive: true, force: true });
});

describe('file jobs', () => {
  it('put writes a new file whole and renames it into place', async () => {
    const final = path.join(dir, 'a.json');
    await expect(jobs.run({ kind: 'put', temp: `${final}.tmp`, final, bytes: Buffer.from('{"a":1}') })).resolves.toBe(7);
    expect(await readFile(final, 'utf8')).toBe('{"a":1}');
  });

  it('commit renames a written file into place and answers its size', async () => {
    const final = path.join(dir, 'b.body');
    await writeFile(`${final}.tmp`, Buffer.alloc(12_345));
    await expect(jobs.run({ kind: 'commit', temp: `${final}.tmp`, final })).resolves.toBe(12_345);
  });

  it('append adds to the end of an open file, many at once in order of arrival on one thread', async () => {
    const file = path.join(dir, 'journal');
    const fd = openSync(file, 'a');
    const single = createFileJobs({ threads: 1 });
    try {
      await Promise.all(Array.from({ length: 50 }, (_, i) => single.run({ kind: 'append', fd, bytes: Buffer.from(`line ${i}\n`) })));
    } finally {
      await single.close();
      closeSync(fd);
    }
    expect((await readFile(file, 'utf8')).split('\n').slice(0, -1)).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i}`));
  });

  it('failures carry the system error code, and the threads go on', async () => {
    const taken = path.join(dir, 'taken');
    await writeFile(taken, 'x');
    await expect(jobs.run({ kind: 'put', temp: taken, final: path.join(dir, 'c') , bytes: Buffer.from('y') })).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(jobs.run({ kind: 'commit', temp: path.join(dir, 'missing'), final: path.join(dir, 'd') })).rejects.toMatchObject({ code: 'ENOENT' });
    const readOnly = openSync(taken, 'r');
    try {
      await expect(jobs.run({ kind: 'append', fd: readOnly, bytes: Buffer.from('z') })).rejects.toMatchObject({ code: 'EBADF' });
    } finally {
      closeSync(readOnly);
    }
    const final = path.join(dir, 'e');
    await expect(jobs.run({ kind: 'put', temp: `${final}.tmp`, final, bytes: Buffer.from('ok') })).resolves.toBe(2);
  });
});
