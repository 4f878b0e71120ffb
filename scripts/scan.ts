// npm run scan -- [--as-of YYYY-MM-DD]
// Runs one scan now, as the scheduler does each day and POST /v1/scans does on request,
// and prints what it created and queued. Without --as-of it scans for today in
// REMINDER_TIMEZONE.
import { parseArgs } from 'node:util';
import { loadConfig } from '@lr/config';
import { connect } from '@lr/db';
import { localDate } from '@lr/domain';
import { openMessageQueues, producerConnection } from '@lr/jobs';
import { createLogger } from '@lr/log';
import { asOfProblem, AsOfInFutureError, runScan, ScanInProgressError } from '@lr/scan';

const USAGE = `usage: npm run scan -- [--as-of YYYY-MM-DD]
  runs a scan for that date (default: today in REMINDER_TIMEZONE) and prints its record;
  a date after today only with ALLOW_FUTURE_SCANS=on (it would send real messages early)
  exit status: 0 done, 1 the scan failed, 2 bad arguments (or a date after today), 75 another scan is running (try again later)`;

/** EX_TEMPFAIL: another scan holds the lock; running again later will work. */
const SCAN_IN_PROGRESS = 75;

function parse(argv: string[]): { asOf?: string; help: boolean } {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { 'as-of': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (positionals.length > 0) throw new Error(`unexpected argument "${positionals[0]}"`);
  const asOf = values['as-of'];
  const problem = asOf === undefined ? undefined : asOfProblem(asOf);
  if (problem) throw new Error(`--as-of ${problem}, not "${asOf}"`);
  return { asOf, help: values.help ?? false };
}

async function main(): Promise<number> {
  let args;
  try {
    args = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`scan: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadConfig('scan');
  // The log goes to stderr, so that stdout carries only the scan's record.
  const log = createLogger('scan', config.logLevel, process.stderr, config.logFormat);
  const database = connect(config.databaseUrl, { max: 2, applicationName: 'scan' });
  // With Redis away the scan fails in seconds (its messages left for the sweeper) rather than waiting.
  const redis = producerConnection(config.redisUrl);
  const queues = openMessageQueues(redis, config.queuePrefix);
  try {
    const deps = { db: database.db, queues, log, followUpDays: config.followUpDays, timezone: config.timezone, allowFutureScans: config.allowFutureScans };
    const summary = await runScan(deps, { asOf: args.asOf ?? localDate(config.timezone), trigger: 'command' });
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof ScanInProgressError) {
      process.stderr.write('scan: another scan is running; run this again when it has finished\n');
      return SCAN_IN_PROGRESS;
    }
    if (error instanceof AsOfInFutureError) {
      process.stderr.write(`scan: --as-of ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`scan: failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await queues.close();
    await redis.quit().catch(() => redis.disconnect());
    await database.close();
  }
}

process.exitCode = await main();
