// The floor beside a scan, in a fresh process like the scan's: the bare window query for the
// rows that scan created reminders for, then addBulk of as many jobs as it queued, in chunks
// of 1,000 like `enqueue`, into an empty queue. Run by bench/scan.ts:
//   node --import tsx bench/scan-floor.ts <scanId> <asOf> <jobs>
// Prints one JSON line (FloorResult).
import { categoriesForScan, connect } from '@lr/db';
import { openQueue, redisConnection, sendSms } from '@lr/jobs';
import { dueWindows } from '@lr/domain';
import {
  DATABASE_URL,
  QUEUE_PREFIX,
  REDIS_URL,
  joinedWindowQuery,
  narrowedWindows,
  rangesWindowQuery,
  type FloorResult,
} from './scan-common';
import { seconds } from './measure';

const [scanId, asOf, jobCount] = [Number(process.argv[2]), process.argv[3]!, Number(process.argv[4])];
const database = connect(DATABASE_URL, { max: 4 });
const connection = redisConnection(REDIS_URL);
await connection.ping();
const narrowed = await narrowedWindows(database.pool, scanId);

let started = process.hrtime.bigint();
const { rows } = await database.pool.query(rangesWindowQuery(narrowed));
const querySeconds = seconds(started);

const queue = openQueue({ ...sendSms, queue: 'floor' }, connection, QUEUE_PREFIX);
started = process.hrtime.bigint();
const jobs = Array.from({ length: jobCount }, (_, i) => ({
  name: sendSms.name,
  data: { messageId: i + 1 },
  opts: { ...sendSms.options, jobId: `floor-${i + 1}` },
}));
for (let i = 0; i < jobs.length; i += 1000) await queue.addBulk(jobs.slice(i, i + 1000));
const addBulkSeconds = seconds(started);

// For comparison: every licence in the scan's windows, which it reads (and locks) every day.
const full = dueWindows(await categoriesForScan(database.db), asOf);
started = process.hrtime.bigint();
const joined = await database.pool.query(joinedWindowQuery(full));
const fullJoinedSeconds = seconds(started);
started = process.hrtime.bigint();
await database.pool.query(rangesWindowQuery(full));
const fullRangesSeconds = seconds(started);

await queue.close();
await connection.quit();
await database.close();

const result: FloorResult = {
  querySeconds,
  rows: rows.length,
  addBulkSeconds,
  jobs: jobCount,
  fullWindowRows: joined.rowCount ?? 0,
  fullJoinedSeconds,
  fullRangesSeconds,
};
console.log(JSON.stringify(result));
