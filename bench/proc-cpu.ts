/** CPU time read from Linux's /proc, for the cost probes (login-cost.ts, read-cost.ts). */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** CPU ms (user and system) of each thread of `pid`, by thread id. */
export function threadCpu(pid: number): Map<string, number> {
  const cpu = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      cpu.set(tid, (Number(fields[11]) + Number(fields[12])) * TICK_MS);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return cpu;
}

/** CPU ms of `pid`, all its threads. */
export function processCpu(pid: number): number {
  let total = 0;
  for (const ms of threadCpu(pid).values()) total += ms;
  return total;
}

/** CPU ms of every PostgreSQL process of this machine, all threads. */
export function postgresCpu(): number {
  const pids = execFileSync('pgrep', ['-x', 'postgres'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  let total = 0;
  for (const pid of pids) {
    try {
      total += processCpu(Number(pid));
    } catch {
      // Gone since.
    }
  }
  return total;
}
