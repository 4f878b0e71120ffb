// npm run migrate: creates the database when missing and applies pending migrations.
import { loadConfig } from '@lr/config';
import { connect, ensureDatabase, migrate } from '@lr/db';
import { serviceLogger } from '@lr/log';

const config = loadConfig('migrate');
const log = serviceLogger('migrate', config);
try {
  if (await ensureDatabase(config.databaseUrl)) log.info('database created');
  const database = connect(config.databaseUrl, { max: 1, applicationName: 'migrate' });
  try {
    const applied = await migrate(database.db);
    log.info({ applied: applied.map((m) => m.migrationName) }, applied.length ? 'migrations applied' : 'schema is up to date');
  } finally {
    await database.close();
  }
} catch (error) {
  process.stderr.write(`migrate: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
