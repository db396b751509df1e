// `hetao db migrate` and `hetao db status`: the operator's schema tools for shared mode.
import type { DatabaseConfig } from '../config.js';
import { openDatabase } from '../database/database.js';
import { checkDatabaseSchema, migrateDatabase } from '../database/migrate.js';

export async function runDatabaseCommand(command: 'migrate' | 'status', config: DatabaseConfig, out: (line: string) => void): Promise<number> {
  const database = openDatabase({ ...config, poolSize: 1 });
  try {
    if (command === 'migrate') {
      const report = await migrateDatabase(database);
      for (const step of report.applied) out(`applied ${step.version} ${step.name}`);
      out(report.applied.length === 0 ? `database already at schema version ${report.version}` : `database at schema version ${report.version}`);
      return 0;
    }
    await checkDatabaseSchema(database);
    out('database schema matches this version');
    return 0;
  } finally {
    await database.close();
  }
}
