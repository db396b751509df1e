// An embedded gateway (no database, no S3, no Redis) does not load the clients of those back-ends:
// they cost memory it never uses (docs/performance.md#memory). A real gateway process, with a module
// resolve hook that writes down every package it is asked to load.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { killHetaoProcesses, spawnHetao } from '../support/hetao-process.js';
import { useRedis } from '../support/redis.js';

const BACK_END_CLIENTS = ['pg', '@aws-sdk/client-s3', '@aws-sdk/lib-storage', 'bullmq', 'ioredis'];

const redis = useRedis();
const prefix = redis.uniquePrefix();
let dir: string | undefined;
afterEach(async () => {
  await killHetaoProcesses();
  if (dir) await rm(dir, { recursive: true, force: true });
  const client = redis.connect();
  await redis.deleteKeys(client, prefix);
  await client.quit();
});

describe('embedded footprint', () => {
  it('an embedded gateway serves without loading the PostgreSQL, S3 or BullMQ/Redis clients; configured for Redis, it loads BullMQ', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hetao-footprint-'));
    const hooks = path.join(dir, 'record-packages.mjs');
    await writeFile(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (!specifier.startsWith('.') && !specifier.startsWith('node:') && !specifier.startsWith('file:')) appendFileSync(process.env.PACKAGES_FILE, specifier + '\\n');
  return next(specifier, context);
}
`,
    );
    const register = path.join(dir, 'register.mjs');
    await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);

    const loadedBy = async (name: string, env: Record<string, string>): Promise<string[]> => {
      const packagesFile = path.join(dir as string, `${name}.txt`);
      await writeFile(packagesFile, '');
      const gateway = spawnHetao('gateway', { HETAO_DATA_DIR: path.join(dir as string, name), PACKAGES_FILE: packagesFile, NODE_OPTIONS: `--import=${pathToFileURL(register).href}`, ...env });
      await gateway.waitForLog((line) => line.msg === 'gateway listening');
      return (await readFile(packagesFile, 'utf8')).split('\n').filter(Boolean);
    };

    const embedded = await loadedBy('embedded', {});
    expect(embedded).toContain('fastify'); // the hook sees the packages the gateway loads
    expect(embedded.filter((specifier) => BACK_END_CLIENTS.includes(specifier))).toEqual([]);

    const withRedis = await loadedBy('redis', { REDIS_URL: redis.url, HETAO_QUEUE_PREFIX: prefix });
    expect(withRedis).toContain('bullmq');
    expect(withRedis).not.toContain('pg');
  });
});
