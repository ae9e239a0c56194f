import { describe, expect, it } from 'vitest';
import { TEST_ARGON2 } from '../../../test/app.js';
import { Semaphore } from '../../domain/semaphore.js';
import { OWASP_ARGON2, PasswordHasher } from './passwords.js';

const OWASP_PREFIX = '$argon2id$v=19$m=19456,t=2,p=1$';

describe('PasswordHasher', () => {
  it('the OWASP cost is m=19 MiB, t=2, p=1', () => {
    expect(OWASP_ARGON2).toEqual({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
  });

  it('hashes with Argon2id at the OWASP cost, which is also the default', async () => {
    for (const hasher of [new PasswordHasher(OWASP_ARGON2), new PasswordHasher()]) {
      const hash = await hasher.hash('violet-otter-harbour-42');
      expect(hash.startsWith(OWASP_PREFIX)).toBe(true);
      expect(hash).not.toContain('violet-otter-harbour-42');
      expect(await hasher.verify(hash, 'violet-otter-harbour-42')).toBe(true);
      expect(await hasher.verify(hash, 'violet-otter-harbour-43')).toBe(false);
    }
  });

  it('salts every hash', async () => {
    const hasher = new PasswordHasher(TEST_ARGON2);
    const [a, b] = await Promise.all([hasher.hash('same-password-1'), hasher.hash('same-password-1')]);
    expect(a).not.toBe(b);
    expect(a.startsWith('$argon2id$')).toBe(true);
  });

  it('verifies hashes made at another cost (the cost travels in the hash)', async () => {
    const cheap = await new PasswordHasher(TEST_ARGON2).hash('correct horse battery');
    expect(await new PasswordHasher(OWASP_ARGON2).verify(cheap, 'correct horse battery')).toBe(true);
  });

  it('never truncates: 128-character passwords differing in the last character do not match', async () => {
    const hasher = new PasswordHasher(TEST_ARGON2);
    const long = `${'ü'.repeat(127)}a`;
    const hash = await hasher.hash(long);
    expect(await hasher.verify(hash, long)).toBe(true);
    expect(await hasher.verify(hash, `${'ü'.repeat(127)}b`)).toBe(false);
    expect(await hasher.verify(hash, 'ü'.repeat(127))).toBe(false);
  });

  it('normalises to NFKC, so composed and decomposed accents match; nothing else is folded', async () => {
    const hasher = new PasswordHasher(TEST_ARGON2);
    const hash = await hasher.hash('r\u00e9sum\u00e9-of-a-life');
    expect(await hasher.verify(hash, 're\u0301sume\u0301-of-a-life')).toBe(true);
    expect(await hasher.verify(hash, 'R\u00e9sum\u00e9-of-a-life')).toBe(false);
    expect(await hasher.verify(hash, ' r\u00e9sum\u00e9-of-a-life')).toBe(false);
  });

  it('answers false, not an error, for a hash it cannot parse', async () => {
    const hasher = new PasswordHasher(TEST_ARGON2);
    for (const hash of ['', 'plaintext', '$2b$10$abcdefghijklmnopqrstuv', '$argon2id$v=19$m=1']) {
      await expect(hasher.verify(hash, 'anything-at-all')).resolves.toBe(false);
    }
  });

  it('verifyDecoy resolves false, for any password, every time', async () => {
    const hasher = new PasswordHasher(TEST_ARGON2);
    await expect(hasher.verifyDecoy('violet-otter-harbour-42')).resolves.toBe(false);
    await expect(hasher.verifyDecoy('')).resolves.toBe(false);
    const all = await Promise.all(Array.from({ length: 5 }, () => hasher.verifyDecoy('x')));
    expect(all).toEqual([false, false, false, false, false]);
  });

  it('a flood of hashes all complete (queued, not dropped)', async () => {
    const hasher = new PasswordHasher(TEST_ARGON2, 2);
    const hashes = await Promise.all(Array.from({ length: 12 }, (_, i) => hasher.hash(`password-${i}-x`)));
    expect(new Set(hashes).size).toBe(12);
    expect(await hasher.verify(hashes[7]!, 'password-7-x')).toBe(true);
  });
});

describe('Semaphore (bounds concurrent Argon2 work)', () => {
  function deferred() {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    return { promise, resolve };
  }

  it('runs at most `limit` tasks at once and queues the rest in arrival order', async () => {
    const semaphore = new Semaphore(2);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const gates = Array.from({ length: 6 }, deferred);
    const tasks = gates.map((gate, i) =>
      semaphore.run(async () => {
        started.push(i);
        running++;
        peak = Math.max(peak, running);
        await gate.promise;
        running--;
        return i;
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1]);
    expect(semaphore.queued).toBe(4);

    gates[1]!.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1, 2]);

    for (const gate of gates) gate.resolve();
    expect(await Promise.all(tasks)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect(peak).toBe(2);
    expect(semaphore.queued).toBe(0);
  });

  it('frees the slot when a task fails', async () => {
    const semaphore = new Semaphore(1);
    await expect(semaphore.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(semaphore.run(async () => 'ok')).resolves.toBe('ok');
  });
});
