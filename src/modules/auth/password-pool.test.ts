import { afterEach, describe, expect, it } from 'vitest';
import { OverloadedError } from '../../domain/errors.js';
import { LowPriorityPool } from './password-pool.js';

/** Doubles a number; 'exit' kills the worker as a native crash would, 'throw' fails the job alone. */
const HANDLER = `
function handle(task) {
  if (task === 'exit') process.exit(7);
  if (task === 'throw') throw new Error('bad task');
  if (task === 'spin') { const end = Date.now() + 200; while (Date.now() < end); return 'spun'; }
  return task * 2;
}
`;

const pools: LowPriorityPool[] = [];
function pool(size = 1, maxQueued = 10) {
  const made = new LowPriorityPool({ handler: HANDLER, size, maxQueued });
  pools.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('LowPriorityPool', () => {
  it('starts workers on demand, up to its size', async () => {
    const p = pool(2);
    expect(p.threads).toBe(0);
    expect(await p.run(21)).toBe(42);
    expect(p.threads).toBe(1);
    expect(await Promise.all([p.run('spin'), p.run('spin'), p.run(1)])).toEqual(['spun', 'spun', 2]);
    expect(p.threads).toBe(2);
  });

  it('a job that throws fails alone; its worker carries on', async () => {
    const p = pool(1);
    await expect(p.run('throw')).rejects.toThrow('bad task');
    expect(await p.run(5)).toBe(10);
    expect(p.threads).toBe(1);
  });

  it('a worker that dies fails its job, and a new worker takes the jobs that were waiting', async () => {
    const p = pool(1);
    const crashed = p.run('exit');
    const waiting = [p.run(1), p.run(2)];
    await expect(crashed).rejects.toThrow(/worker stopped \(exit code 7\)/);
    expect(await Promise.all(waiting)).toEqual([2, 4]);
    expect(p.threads).toBe(1);
    // And after a crash with nothing waiting, the next job starts a worker again.
    await expect(p.run('exit')).rejects.toThrow(/exit code 7/);
    expect(await p.run(3)).toBe(6);
  });

  it('refuses a job with OverloadedError when the workers are busy and the queue is full', async () => {
    const p = pool(1, 1);
    const running = p.run('spin');
    const queued = p.run(4);
    await expect(p.run(5)).rejects.toBeInstanceOf(OverloadedError);
    expect(p.queued).toBe(1);
    expect(await running).toBe('spun');
    expect(await queued).toBe(8);
  });

  it('close() fails running and queued jobs and ends every worker', async () => {
    const p = pool(1);
    const outcomes = Promise.allSettled([p.run('spin'), p.run(1)]);
    await p.close();
    const [running, queued] = await outcomes;
    expect(running?.status).toBe('rejected');
    expect(queued).toMatchObject({
      status: 'rejected',
      reason: { message: expect.stringMatching(/closed/) },
    });
    expect(p.threads).toBe(0);
  });

  it('a handler that cannot even start fails its jobs with the reason, rather than hanging', async () => {
    const broken = new LowPriorityPool({
      handler: "load('no-such-module-anywhere');",
      size: 1,
      maxQueued: 5,
    });
    pools.push(broken);
    const outcomes = await Promise.allSettled([broken.run(1), broken.run(2)]);
    for (const outcome of outcomes)
      expect(outcome).toMatchObject({
        status: 'rejected',
        reason: { message: expect.stringMatching(/no-such-module-anywhere/) },
      });
  });

  it('needs at least one worker', () => {
    expect(() => new LowPriorityPool({ handler: HANDLER, size: 0, maxQueued: 1 })).toThrow(RangeError);
  });
});
