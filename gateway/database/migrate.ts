// Versioned schema migrations: `hetao db migrate` applies the missing ones, each in its own transaction,
// under an advisory lock so two instances migrating at once do not race; a gateway at start checks the
// database is at exactly the version it knows and refuses to run on any other (unmigrated, or migrated
// by a newer version whose tables it would misread).
import { GatewayError } from '../errors.js';
import type { Database } from './database.js';
import type { Migration } from './migration.js';
import { MIGRATIONS } from './migrations.js';

/** pg_advisory_xact_lock key of migrations ('hetaomig' as an int64). */
const MIGRATION_LOCK = '7522537237474339175';

const CREATE_LEDGER = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version     integer PRIMARY KEY,
  name        text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now()
)`;

export interface MigrationReport {
  /** Migrations applied by this call, in order. */
  readonly applied: readonly { version: number; name: string }[];
  /** The schema version afterwards. */
  readonly version: number;
}

/** Applies the migrations the database lacks. @throws GatewayError ERR_DATABASE_SCHEMA when it has one this version does not know. */
export async function migrateDatabase(database: Database, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationReport> {
  const applied: { version: number; name: string }[] = [];
  await database.transaction(async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(CREATE_LEDGER);
  });
  for (const migration of migrations) {
    const done = await database.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const known = await appliedVersions(client);
      refuseUnknown(known, migrations);
      if (known.has(migration.version)) return false;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      return true;
    });
    if (done) applied.push({ version: migration.version, name: migration.name });
  }
  return { applied, version: migrations.at(-1)?.version ?? 0 };
}

/**
 * Refuses a database whose schema is not exactly `migrations`.
 * @throws GatewayError ERR_DATABASE_SCHEMA (not migrated, partly migrated, or migrated by a newer version)
 */
export async function checkDatabaseSchema(database: Database, migrations: readonly Migration[] = MIGRATIONS): Promise<void> {
  const { rows } = await database.query<{ ledger: string | null }>("SELECT to_regclass('schema_migrations')::text AS ledger");
  if (!rows[0]?.ledger) {
    throw new GatewayError('ERR_DATABASE_SCHEMA', 'the database has no hetao schema: run `hetao db migrate` first', { expected: migrations.at(-1)?.version ?? 0 });
  }
  const known = await appliedVersions(database);
  refuseUnknown(known, migrations);
  const missing = migrations.filter((migration) => !known.has(migration.version));
  if (missing.length > 0) {
    throw new GatewayError('ERR_DATABASE_SCHEMA', `the database lacks migrations ${missing.map((m) => `${m.version} (${m.name})`).join(', ')}: run \`hetao db migrate\``, {
      missing: missing.map((migration) => migration.version),
    });
  }
}

async function appliedVersions(client: Pick<Database, 'query'> | { query: Database['query'] }): Promise<Set<number>> {
  const { rows } = await (client as Pick<Database, 'query'>).query<{ version: number }>('SELECT version FROM schema_migrations');
  return new Set(rows.map((row) => Number(row.version)));
}

function refuseUnknown(known: ReadonlySet<number>, migrations: readonly Migration[]): void {
  const mine = new Set(migrations.map((migration) => migration.version));
  const unknown = [...known].filter((version) => !mine.has(version)).sort((a, b) => a - b);
  if (unknown.length > 0) {
    throw new GatewayError('ERR_DATABASE_SCHEMA', `the database was migrated by a newer gateway (schema versions ${unknown.join(', ')} are unknown to this one); run that version`, {
      unknown,
    });
  }
}
