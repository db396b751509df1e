// PostgreSQL for tests: every test (or file) creates a database of its own on the run's server
// (test/global-setup.ts finds it), migrated to the current schema, and drops it afterwards, so tests
// run in parallel without seeing each other's rows.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { openDatabase, type Database, type DatabaseOptions } from '../../gateway/database/database.js';
import { migrateDatabase } from '../../gateway/database/migrate.js';

export interface TestDatabase {
  /** postgres://…/hetao_test_… */
  readonly url: string;
  readonly name: string;
  /** Opens a pool on it (closed by `drop`). */
  open(options?: Omit<DatabaseOptions, 'url'>): Database;
  /** Closes the pools opened through `open` and drops the database, whoever is still connected. */
  drop(): Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('databaseAdminUrl') });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A new empty database; `migrate: true` (default) applies every migration. */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `hetao_test_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(inject('databaseAdminUrl'));
  url.pathname = `/${name}`;
  const pools: Database[] = [];
  const database: TestDatabase = {
    url: url.toString(),
    name,
    open(poolOptions = {}) {
      const opened = openDatabase({ ...poolOptions, url: url.toString() });
      pools.push(opened);
      return opened;
    },
    async drop() {
      await Promise.allSettled(pools.splice(0).map((pool) => pool.close()));
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
  if (options.migrate ?? true) {
    const pool = openDatabase({ url: database.url, poolSize: 1 });
    try {
      await migrateDatabase(pool);
    } finally {
      await pool.close();
    }
  }
  return database;
}

/**
 * Pools on one test database for a port's contract run: `pool()` opens another (a reopen is a new pool,
 * as another instance would be), `closeAll()` closes every one opened.
 */
export function contractPools(url: string): { pool(): Database; closeAll(): Promise<void> } {
  const pools: Database[] = [];
  return {
    pool() {
      const opened = openDatabase({ url });
      pools.push(opened);
      return opened;
    },
    async closeAll() {
      await Promise.all(pools.map((opened) => opened.close()));
    },
  };
}
