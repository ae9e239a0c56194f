import { describe, expect, it } from 'vitest';
import { Semaphore } from './semaphore.js';

/** A task the test finishes by hand, recording when it started. */
function controlled(started: number[], id: number) {
  let finish!: (value: number) => void;
  let fail!: (error: Error) => void;
  const done = new Promise<number>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const task = () => {
    started.push(id);
    return done;
  };
  return { task, finish: () => finish(id), fail: (error: Error) => fail(error) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Semaphore', () => {
  it('runs at most `limit` tasks at once', async () => {
    const semaphore = new Semaphore(3);
    let active = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        semaphore.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await tick();
          await tick();
          active--;
          return i;
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(semaphore.queued).toBe(0);
  });

  it('starts waiting tasks in arrival order', async () => {
    const semaphore = new Semaphore(2);
    const started: number[] = [];
    const tasks = Array.from({ length: 6 }, (_, i) => controlled(started, i));
    const runs = tasks.map((t) => semaphore.run(t.task));
    await tick();
    expect(started).toEqual([0, 1]);
    expect(semaphore.queued).toBe(4);

    tasks[1]!.finish();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    tasks[0]!.finish();
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);
    tasks[3]!.finish();
    tasks[2]!.finish();
    await tick();
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect(semaphore.queued).toBe(0);
    tasks[4]!.finish();
    tasks[5]!.finish();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('frees the slot when a task fails, and passes the error on', async () => {
    const semaphore = new Semaphore(1);
    const started: number[] = [];
    const failing = controlled(started, 1);
    const next = controlled(started, 2);
    const failed = semaphore.run(failing.task);
    const after = semaphore.run(next.task);
    failing.fail(new Error('boom'));
    await expect(failed).rejects.toThrow('boom');
    await tick();
    expect(started).toEqual([1, 2]);
    next.finish();
    expect(await after).toBe(2);
    // A task that throws before returning a promise frees its slot too.
    await expect(
      semaphore.run(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(await semaphore.run(async () => 'free')).toBe('free');
  });
});
