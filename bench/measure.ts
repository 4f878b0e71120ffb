// Timing helpers of the benchmarks.
import { readFileSync } from 'node:fs';

export function seconds(from: bigint): number {
  return Number(process.hrtime.bigint() - from) / 1e9;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * CPU seconds (user + system) a process has used, all its threads, from /proc; with
 * `withEndedChildren`, also those of its children that have ended. 0 when it has gone.
 */
export function cpuSecondsOf(pid: number | string, withEndedChildren = false): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime, stime; cutime, cstime; in USER_HZ (100 a second on Linux)
    const ticks = Number(fields[11]) + Number(fields[12]) + (withEndedChildren ? Number(fields[13]) + Number(fields[14]) : 0);
    return ticks / 100;
  } catch {
    return 0;
  }
}
