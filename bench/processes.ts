/**
 * The processes a benchmark run starts: each server pinned to its cores with `taskset` when the
 * machine has it, waited for until it answers, measured (RSS per process) and stopped.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

export const HAS_TASKSET = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Read once at start: after pinSelf, availableParallelism() would report the pinned core only. */
const CORES = availableParallelism();

export interface Placement {
  /** CPU list for the servers (`taskset -c`), or undefined when not pinned. */
  serverCores: string | undefined;
  /** How many cores the servers may run on (all of them when not pinned). */
  serverCoreCount: number;
  /** CPU list for this process, which generates the load. */
  loadCores: string | undefined;
  /** The load generator has a core no server runs on (where a local database's backends go too). */
  loadAlone: boolean;
  /** One sentence for the report. */
  description: string;
}

/**
 * On a machine with two or more cores the load generator (this process) keeps the last core. A
 * single worker gets core 0 to itself; N workers get the first N cores, which on a 2-core machine
 * means sharing the load generator's core, and the report says so.
 */
export function placement(workers: number): Placement {
  const cores = CORES;
  if (!HAS_TASKSET || cores < 2) {
    return {
      serverCores: undefined,
      serverCoreCount: cores,
      loadCores: undefined,
      loadAlone: false,
      description: `not pinned (${HAS_TASKSET ? `${cores} core` : 'no taskset'}); server and load generator share the CPU`,
    };
  }
  const last = cores - 1;
  const serverCoreCount = Math.min(workers, cores);
  const serverCores = serverCoreCount === 1 ? '0' : `0-${serverCoreCount - 1}`;
  const shared = workers >= cores;
  return {
    serverCores,
    serverCoreCount,
    loadCores: String(last),
    loadAlone: !shared,
    description: shared
      ? `server on cores ${serverCores} (all of them, so it shares core ${last} with the load generator), load generator on core ${last}`
      : `server on core${workers > 1 ? 's' : ''} ${serverCores}, load generator alone on core ${last}`,
  };
}

/** Pins every thread of this process (autocannon runs here) to `cores`. */
export function pinSelf(cores: string | undefined): void {
  if (cores) execFileSync('taskset', ['-a', '-cp', cores, String(process.pid)], { stdio: 'ignore' });
}

export interface Server {
  child: ChildProcess;
  url: string;
  /** The processes that serve requests: the workers of a cluster, else the process itself. */
  servingPids(): number[];
  stop(): Promise<void>;
}

export async function startServer(opts: {
  command: string[];
  env: Record<string, string>;
  cores: string | undefined;
  port: number;
  readyPath: string;
  /** How many serving processes to wait for (cluster workers). */
  workers: number;
}): Promise<Server> {
  const [file, ...args] = opts.cores ? ['taskset', '-c', opts.cores, ...opts.command] : opts.command;
  const child = spawn(file as string, args, {
    env: { ...process.env, ...opts.env, PORT: String(opts.port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${opts.port}`;
  const servingPids = () => {
    if (opts.workers <= 1 || child.pid === undefined) return child.pid === undefined ? [] : [child.pid];
    return childrenOf(child.pid);
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${opts.command.join(' ')} exited:\n${stderr}`);
    const ok = await fetch(url + opts.readyPath)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok && servingPids().length >= opts.workers) break;
    if (Date.now() > deadline) throw new Error(`${opts.command.join(' ')} did not start:\n${stderr}`);
    await sleep(100);
  }
  return {
    child,
    url,
    servingPids,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000).then(() => child.kill('SIGKILL'))]);
    },
  };
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Resident set size in MB, from /proc (Linux); undefined elsewhere. */
export function rssMb(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** A free TCP port, chosen by the kernel. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}
