// Timing helpers of the benchmarks.
import { readdirSync, readFileSync } from 'node:fs';

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
  const { user, system, endedChildren } = cpuSplitOf(pid);
  return user + system + (withEndedChildren ? endedChildren : 0);
}

/** cpuSecondsOf split: user time and system (kernel) time, all threads, and the ended children's. Zeros when it has gone. */
export function cpuSplitOf(pid: number | string): { user: number; system: number; endedChildren: number } {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime, stime, cutime, cstime; in USER_HZ (100 a second on Linux)
    const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number) as [number, number, number, number];
    return { user: utime / 100, system: stime / 100, endedChildren: (cutime + cstime) / 100 };
  } catch {
    return { user: 0, system: 0, endedChildren: 0 };
  }
}

/** A process's name (the kernel's, 15 characters at most) and its parent's pid, from one read of /proc/<pid>/status. */
function processStatus(pid: number | string): { name: string; ppid: string } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { name: /^Name:\s+(.*)$/m.exec(status)![1]!, ppid: /^PPid:\s+(\d+)$/m.exec(status)![1]! };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used so far by PostgreSQL's processes on this machine (all databases), with
 * those of the backends that have ended: backends come and go with their clients' pools,
 * and the server's main process keeps the time of the ended ones.
 */
export function postgresCpuSeconds(): number {
  const postgres = new Map<string, string>();
  for (const entry of readdirSync('/proc')) {
    const status = /^\d+$/.test(entry) ? processStatus(entry) : undefined;
    if (status?.name === 'postgres') postgres.set(entry, status.ppid);
  }
  let total = 0;
  // The server's main process is the one whose parent is not a postgres process.
  for (const [pid, ppid] of postgres) total += cpuSecondsOf(pid, !postgres.has(ppid));
  return total;
}

/** CPU seconds the whole machine has been busy (all cores, anything but idle and I/O wait), from /proc/stat. */
export function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal; in USER_HZ (100 a second on Linux)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** Nanoseconds a process (its main thread) has run on a CPU, from /proc/<pid>/schedstat: finer than cpuSecondsOf's ticks of 10 ms. 0 when it has gone. */
export function cpuNanosOf(pid: number | string): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
}
