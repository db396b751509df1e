// A PostgreSQL database of a bench's own on the machine's server (BENCH_DATABASE_URL: a maintenance
// URL, default the local `postgres` database with trust auth), created for the run and dropped after
// whatever happens, plus the admin connection the benches read server settings and statistics with.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const BENCH_ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs `work` on a fresh connection to the maintenance database, closed after. */
export async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: BENCH_ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export interface BenchDatabase {
  readonly name: string;
  /** postgres://…/hetao_bench_… */
  readonly url: string;
  /** Drops it, whoever is still connected. */
  drop(): Promise<void>;
}

export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `hetao_bench_${randomBytes(6).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(BENCH_ADMIN_URL);
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: () => withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined) };
}
