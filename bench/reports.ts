// npm run bench:reports [stats|ledger|forecast ...]: the speed targets of issue 12, one after
// another (all three unless named). Stats and the ledger share one seeded report store
// (bench/report-store.ts): the second finds it in place and does not seed it again.
import { spawnSync } from 'node:child_process';

const ALL = ['stats', 'ledger', 'forecast'];
const named = process.argv.slice(2).filter((a) => ALL.includes(a));
let seeded = false;
for (const name of named.length > 0 ? named : ALL) {
  console.log(`\n== ${name} ==`);
  const args = ['--import', 'tsx', `bench/${name}.ts`, ...(seeded && name !== 'forecast' ? ['again'] : [])];
  const run = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
  seeded ||= name !== 'forecast';
}
