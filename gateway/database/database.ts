// The PostgreSQL connection of shared mode: one pool per process, queries and transactions on it, and
// the one place that tells "the database is not answering" (ERR_DATABASE_UNAVAILABLE, 503 with
// Retry-After) from a bug in a query. The record store, the journal and the upload leases use it;
// none of them opens connections of its own except the journal's leader, which holds an advisory
// lock on one dedicated client, and the record store's pair locks (withAdvisoryLock), each on a client
// of its own while its work runs.
import pg from 'pg';
import { GatewayError } from '../errors.js';

export interface DatabaseOptions {
  /** postgres://user@host:port/database */
  readonly url: string;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
  /** How long a query waits for a free connection or a new one before failing (default 5 s). */
  readonly connectTimeoutMs?: number;
  /** Server-side bound on one statement (default 30 s); 0: none. */
  readonly statementTimeoutMs?: number;
  /** Seconds a refused caller should wait (Retry-After) when the database is down (default 5). */
  readonly retryAfterSeconds?: number;
  /** Told about errors of idle clients (a server restart); the pool replaces them. */
  readonly onIdleError?: (error: Error) => void;
}

export type Queryable = Pick<pg.PoolClient, 'query'>;

export interface Database {
  /** `prepare`: a name under which each connection keeps the statement parsed and planned (a hot statement). */
  query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[], prepare?: string): Promise<pg.QueryResult<Row>>;
  /** Runs `work` in one transaction (BEGIN … COMMIT, ROLLBACK on any error). */
  transaction<T>(work: (client: Queryable) => Promise<T>): Promise<T>;
  /** A client of its own, outside the pool's turn-taking (the journal leader's advisory lock); release it. */
  connect(): Promise<pg.PoolClient>;
  /**
   * Runs `work` while a session-level advisory lock on the two int4 keys (`space`, hashtext(`name`)) is
   * held on a pool client of its own — `space` tells one user's locks from another's, `name` the thing
   * locked (two names of one hash share a lock: that only serializes more) — waiting for the lock at
   * most the statement timeout. `work` runs its queries on the pool (not on the lock's client) and its
   * outcome is passed on unchanged; the lock is released after it, and its client closed rather than
   * handed back when that cannot be known to have worked (the lock ends with the session then).
   * @throws GatewayError ERR_DATABASE_UNAVAILABLE when no client is had or the lock's query fails so;
   *   the lock query's own error when the statement timeout cancels the wait. `work` does not run then.
   */
  withAdvisoryLock<T>(space: number, name: string, work: () => Promise<T>): Promise<T>;
  /** Throws ERR_DATABASE_UNAVAILABLE unless a trivial query answers. */
  ping(): Promise<void>;
  /** Pool figures for metrics. */
  stats(): { readonly total: number; readonly idle: number; readonly waiting: number };
  close(): Promise<void>;
}

/** SQLSTATE classes and socket errors that mean "the server is not there", not "the query is wrong". */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P)/;
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

/** Whether `error` says the database cannot be reached (or is shutting down, or out of connections). */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) return true;
  // node-postgres' own wordings for a pool timeout and a connection lost mid-query.
  return /timeout exceeded when trying to connect|Connection terminated|Client has encountered a connection error|connection timeout/i.test(error.message);
}

export function openDatabase(options: DatabaseOptions): Database {
  const retryAfterSeconds = options.retryAfterSeconds ?? 5;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    ...(options.statementTimeoutMs !== 0 ? { statement_timeout: options.statementTimeoutMs ?? 30_000 } : {}),
    application_name: 'hetao-gateway',
  });
  pool.on('error', (error) => options.onIdleError?.(error));

  const unavailable = (error: unknown): never => {
    if (isDatabaseUnavailable(error)) {
      throw new GatewayError('ERR_DATABASE_UNAVAILABLE', `the database does not answer: ${(error as Error).message}`, { retryAfterSeconds }, { cause: error });
    }
    throw error;
  };

  return {
    query: (text, values, prepare) => (prepare === undefined ? pool.query(text, values as unknown[]) : pool.query({ name: prepare, text, values: values as unknown[] })).catch(unavailable),
    async transaction(work) {
      const client = await pool.connect().catch(unavailable);
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        broken = isDatabaseUnavailable(error);
        if (!broken) await client.query('ROLLBACK').catch(() => (broken = true));
        return unavailable(error);
      } finally {
        // A client whose connection failed is dropped, not handed to the next query.
        client.release(broken);
      }
    },
    connect: () => pool.connect().catch(unavailable),
    async withAdvisoryLock(space, name, work) {
      const client = await pool.connect().catch(unavailable);
      // A connection lost while `work` runs (no query of ours on it) is told here, not thrown at the
      // process; its session, and the lock with it, ended.
      let lost = false;
      const onError = (): void => {
        lost = true;
      };
      client.on('error', onError);
      let unlocked = false;
      try {
        await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [space, name]).catch(unavailable);
        try {
          return await work();
        } finally {
          unlocked = !lost && (await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [space, name]).then(() => true, () => false));
        }
      } finally {
        client.removeListener('error', onError);
        if (!unlocked) client.on('error', () => undefined); // a late error of the closed connection must not crash the process
        // Back to the pool only without the lock: otherwise closed, and the lock goes with its session.
        client.release(!unlocked);
      }
    },
    async ping() {
      await pool.query('SELECT 1').catch(unavailable);
    },
    stats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: () => pool.end(),
  };
}
