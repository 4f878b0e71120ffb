// npm run scan -- [--as-of YYYY-MM-DD]
// Runs one scan now, as the scheduler does each day and POST /v1/scans does on request,
// and prints what it created and queued. Without --as-of it scans for today in
// REMINDER_TIMEZONE.
import { parseArgs } from 'node:util';
import { loadConfig } from '@lr/config';
import { connect } from '@lr/db';
import { dateRule, isBusinessDate, SCAN_DATES } from '@lr/domain';
import { openProducerQueues } from '@lr/jobs';
import { createLogger } from '@lr/log';
import { scanFor } from '@lr/scan';

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
  // A bad date is bad usage, said before the configuration, the database or Redis are asked.
  if (asOf !== undefined && !isBusinessDate(asOf, SCAN_DATES)) throw new Error(`--as-of must be ${dateRule(SCAN_DATES)}, not "${asOf}"`);
  return { asOf, help: values.help ?? false };
}

const usageError = (message: string) => `scan: ${message}\n${USAGE}\n`;

async function main(): Promise<number> {
  let args;
  try {
    args = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(usageError(error instanceof Error ? error.message : String(error)));
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
  // With Redis away the scan fails in seconds (its messages left for the sweeper) rather than
  // waiting; its failure says so, so the connection's outages are not logged besides.
  const queues = openProducerQueues(config.redisUrl, config.queuePrefix);
  try {
    const deps = { db: database.db, queues, log, followUpDays: config.followUpDays, timezone: config.timezone, allowFutureScans: config.allowFutureScans };
    const answer = await scanFor(deps, { asOf: args.asOf, trigger: 'command' });
    switch (answer.kind) {
      case 'scanned':
        process.stdout.write(`${JSON.stringify(answer.summary)}\n`);
        return 0;
      case 'invalid_as_of':
        // parse() checked a given --as-of: only today can be out of range (a clock past 2100).
        process.stderr.write(`scan: today (${answer.asOf}) is not a date a scan takes: it ${answer.message}\n`);
        return 1;
      case 'as_of_in_future':
        process.stderr.write(`scan: --as-of ${answer.message}\n`);
        return 2;
      case 'scan_in_progress':
        process.stderr.write('scan: another scan is running; run this again when it has finished\n');
        return SCAN_IN_PROGRESS;
      case 'failed':
        process.stderr.write(`scan: failed: ${answer.error instanceof Error ? answer.error.message : String(answer.error)}\n`);
        return 1;
    }
  } finally {
    await queues.close();
    await database.close();
  }
}

process.exitCode = await main();
