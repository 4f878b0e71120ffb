// npm run bench:reports [stats|ledger|forecast ...]: the speed targets of issue 12, one after
// another (all three unless named). Stats and the ledger share one seeded report store
// (bench/report-store.ts): the second finds it in place and does not seed it again. The
// forecast reads the scan bench's store: when it holds no licences, bench/scan.ts runs first
// and seeds it (about 10 minutes).
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { DATABASE_URL as SCAN_DATABASE_URL } from './scan-common';

const ALL = ['stats', 'ledger', 'forecast'];

function bench(script: string, args: string[] = []): void {
  const run = spawnSync(process.execPath, ['--import', 'tsx', `bench/${script}.ts`, ...args], { stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
}

/** Whether the scan bench's store exists and holds licences. */
async function scanStoreSeeded(): Promise<boolean> {
  const client = new pg.Client({ connectionString: SCAN_DATABASE_URL });
  try {
    await client.connect();
    const { rows } = await client.query<{ seeded: boolean }>('select exists (select 1 from licenses) as seeded');
    return rows[0]!.seeded;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const named = process.argv.slice(2).filter((a) => ALL.includes(a));
let seeded = false;
for (const name of named.length > 0 ? named : ALL) {
  console.log(`\n== ${name} ==`);
  if (name === 'forecast') {
    if (!(await scanStoreSeeded())) {
      console.log(`${SCAN_DATABASE_URL} holds no licences: the scan bench seeds it first`);
      bench('scan');
    }
    bench('forecast');
    continue;
  }
  bench(name, seeded ? ['again'] : []);
  seeded = true;
}
