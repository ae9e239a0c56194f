import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * postgres.js keeps its pool's connections in queues whose shift() only blanks the slot it takes.
 * The queue of idle connections never runs empty under light load, so it grew by one slot per
 * query for as long as the process ran, and every query's remove() scanned all of them: a
 * service's queries got slower by the hour and its memory grew. patches/postgres+3.4.9.patch,
 * applied by npm's postinstall, drops the blank slots once they are half the array. The queue is
 * not exported, so it is loaded from its file; both copies (ESM and CommonJS) carry the patch.
 */
type Queue<T> = { readonly length: number; push(x: T): T; shift(): T; remove(x: T): T | null };
type MakeQueue = <T>(initial?: T[]) => Queue<T>;

const cjsDir = dirname(createRequire(import.meta.url).resolve('postgres'));
const copies = { esm: join(cjsDir, '..', '..', 'src', 'queue.js'), cjs: join(cjsDir, 'queue.js') };

async function load(file: string): Promise<MakeQueue> {
  const module = await import(pathToFileURL(file).href);
  return (module.default ?? module) as MakeQueue;
}

/** µs per remove-and-push of one of ten idle connections, after `served` queries. */
function removeCost(Queue: MakeQueue, served: number): number {
  const queue = Queue<{ id: number }>();
  const held = Array.from({ length: 10 }, (_, id) => queue.push({ id }));
  for (let i = 0; i < served; i++) queue.push(queue.shift());
  const rounds = 2_000;
  const started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) queue.push(queue.remove(held[i % 10]!)!);
  return Number(process.hrtime.bigint() - started) / rounds / 1_000;
}

describe.each(Object.entries(copies))("postgres.js's connection queue (%s)", (_, file) => {
  it('costs the same after a million queries as after a hundred', async () => {
    const Queue = await load(file);
    removeCost(Queue, 100); // warm-up
    const fresh = Math.min(removeCost(Queue, 100), removeCost(Queue, 100));
    const aged = removeCost(Queue, 1_000_000);
    // Unpatched, each remove scanned the million blank slots: thousands of times the fresh cost.
    expect(aged).toBeLessThan(Math.max(fresh * 10, 1));
  });

  it('keeps what it holds, in order, through the compactions', async () => {
    const Queue = await load(file);
    const queue = Queue<{ id: number }>();
    const held = Array.from({ length: 10 }, (_, id) => queue.push({ id }));
    for (let i = 0; i < 100_003; i++) queue.push(queue.shift());
    expect(queue.length).toBe(10);
    expect(queue.remove(held[5]!)).toBe(held[5]);
    expect(queue.remove(held[5]!)).toBeNull();
    const order = Array.from({ length: 9 }, () => queue.shift().id);
    expect(order).toEqual([3, 4, 6, 7, 8, 9, 0, 1, 2]);
    expect(queue.length).toBe(0);
  });
});
