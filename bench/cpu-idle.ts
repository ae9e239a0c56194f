/**
 * Keeps the machine's CPUs out of their idle (halt) states while a benchmark runs, as tuned's
 * latency-performance profile does: a PM QoS request of 0 µs on /dev/cpu_dma_latency, held for as
 * long as the file stays open (this process's life).
 *
 * Why: on a virtual machine a halted vCPU is woken by an inter-processor interrupt, which the
 * waking CPU pays for with an exit to the hypervisor. Every response the server writes on loopback
 * wakes the load generator on the other core, in the server's own `writev`, so a server that leaves
 * the load generator idle between answers pays several µs per request that the bare server, which
 * keeps it busy, does not. On the 2-core Intel VM of 2026-12-07 that was 15 % of the server's event
 * loop for `POST /v1/authz/check` (perf: the time under sock_def_readable's wake-up), and the check
 * read 21.5k req/s with idle states on against 29.2k with them off, while the bare server read 77k
 * either way. A CPU that polls instead of halting is woken without an interrupt. The server's own
 * work is unchanged by this; what goes is a cost of the harness, so ratios measure the server.
 *
 * Where the file is missing or not writable (not Linux, not root), nothing changes and the report
 * says so.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

const DEVICE = '/dev/cpu_dma_latency';
let held: number | undefined;

/** Takes the request (once per process) and answers a sentence for the report. */
export function holdCpusAwake(): string {
  if (held === undefined) {
    try {
      const fd = openSync(DEVICE, 'w');
      const zero = Buffer.alloc(4);
      try {
        writeSync(fd, zero);
      } catch (error) {
        closeSync(fd);
        throw error;
      }
      held = fd;
    } catch (error) {
      return `CPU idle states as the machine has them (${DEVICE}: ${(error as NodeJS.ErrnoException).code ?? error})`;
    }
  }
  return `CPUs kept out of idle states while measuring (${DEVICE} held at 0 µs), so waking the load generator costs the server no interrupt`;
}
