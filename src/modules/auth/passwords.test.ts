import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestApp, TEST_ARGON2 } from '../../../test/app.js';
import { createUser } from '../../../test/factories.js';
import { OverloadedError } from '../../domain/errors.js';
import { defaultPoolSize, OWASP_ARGON2, PasswordHasher, type PasswordHasherOptions } from './passwords.js';

const OWASP_PREFIX = '$argon2id$v=19$m=19456,t=2,p=1$';

/** Made by the previous hasher (@node-rs/argon2's async hash on libuv's pool) for 'stored-before-2026'. */
const STORED_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$6ihtNXIgJblm55KUR2girw$SQzNVq6PV3J1fWzy6UIMCT82Au1lwpJ1bj26XQ8b8Zs';

const opened: PasswordHasher[] = [];
/** A hasher that the test closes afterwards, so no file leaves workers behind. */
function hasher(cost = TEST_ARGON2, concurrency?: number, options?: PasswordHasherOptions) {
  const made = new PasswordHasher(cost, concurrency, options);
  opened.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((h) => h.close()));
});

/** The nice value of every thread of this process, by thread id (Linux: /proc/self/task). */
function threadNiceness(): Map<number, number> {
  const nice = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // Field 19 is the nice value; fields 3+ follow the parenthesised command name.
      nice.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return nice;
}

const niceThreads = () => [...threadNiceness().values()].filter((n) => n === 19).length;

/** Threads at nice 19 now that were not in `before`: a closed hasher's thread may linger a moment. */
const newNiceThreads = (before: Map<number, number>) =>
  [...threadNiceness()].filter(([tid, n]) => n === 19 && before.get(tid) !== 19).length;

describe('PasswordHasher', () => {
  it('the OWASP cost is m=19 MiB, t=2, p=1', () => {
    expect(OWASP_ARGON2).toEqual({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
  });

  it('hashes with Argon2id at the OWASP cost, which is also the default', async () => {
    const byDefault = new PasswordHasher();
    opened.push(byDefault);
    for (const h of [hasher(OWASP_ARGON2), byDefault]) {
      const hash = await h.hash('violet-otter-harbour-42');
      expect(hash.startsWith(OWASP_PREFIX)).toBe(true);
      expect(hash).not.toContain('violet-otter-harbour-42');
      expect(await h.verify(hash, 'violet-otter-harbour-42')).toBe(true);
      expect(await h.verify(hash, 'violet-otter-harbour-43')).toBe(false);
    }
  });

  it('hashes stored before the worker pool still verify', async () => {
    const h = hasher(OWASP_ARGON2);
    expect(await h.verify(STORED_HASH, 'stored-before-2026')).toBe(true);
    expect(await h.verify(STORED_HASH, 'stored-before-2027')).toBe(false);
  });

  it('salts every hash', async () => {
    const h = hasher();
    const [a, b] = await Promise.all([h.hash('same-password-1'), h.hash('same-password-1')]);
    expect(a).not.toBe(b);
    expect(a.startsWith('$argon2id$')).toBe(true);
  });

  it('verifies hashes made at another cost (the cost travels in the hash)', async () => {
    const cheap = await hasher().hash('correct horse battery');
    expect(await hasher(OWASP_ARGON2).verify(cheap, 'correct horse battery')).toBe(true);
  });

  it('never truncates: 128-character passwords differing in the last character do not match', async () => {
    const h = hasher();
    const long = `${'ü'.repeat(127)}a`;
    const hash = await h.hash(long);
    expect(await h.verify(hash, long)).toBe(true);
    expect(await h.verify(hash, `${'ü'.repeat(127)}b`)).toBe(false);
    expect(await h.verify(hash, 'ü'.repeat(127))).toBe(false);
  });

  it('normalises to NFKC, so composed and decomposed accents match; nothing else is folded', async () => {
    const h = hasher();
    const hash = await h.hash('r\u00e9sum\u00e9-of-a-life');
    expect(await h.verify(hash, 're\u0301sume\u0301-of-a-life')).toBe(true);
    expect(await h.verify(hash, 'R\u00e9sum\u00e9-of-a-life')).toBe(false);
    expect(await h.verify(hash, ' r\u00e9sum\u00e9-of-a-life')).toBe(false);
  });

  it('answers false, not an error, for a hash it cannot parse', async () => {
    const h = hasher();
    for (const hash of ['', 'plaintext', '$2b$10$abcdefghijklmnopqrstuv', '$argon2id$v=19$m=1']) {
      await expect(h.verify(hash, 'anything-at-all')).resolves.toBe(false);
    }
  });

  it('verifyDecoy resolves false, for any password, every time, and spends a verification', async () => {
    const h = hasher(TEST_ARGON2, 1);
    await expect(h.verifyDecoy('violet-otter-harbour-42')).resolves.toBe(false);
    await expect(h.verifyDecoy('')).resolves.toBe(false);
    const all = await Promise.all(Array.from({ length: 5 }, () => h.verifyDecoy('x')));
    expect(all).toEqual([false, false, false, false, false]);
    // The decoy's verification goes through the same workers as a real one.
    expect(h.threads).toBe(1);
  });

  it('a flood of hashes within the queue bound all complete, first come first served', async () => {
    const h = hasher(TEST_ARGON2, 2);
    const hashes = await Promise.all(Array.from({ length: 12 }, (_, i) => h.hash(`password-${i}-x`)));
    expect(new Set(hashes).size).toBe(12);
    expect(await h.verify(hashes[7]!, 'password-7-x')).toBe(true);
    expect(h.threads).toBe(2);
  });

  it('past the queue bound, a hash or verification is refused at once with OverloadedError', async () => {
    const h = hasher(TEST_ARGON2, 1, { maxQueuedPerWorker: 2 });
    const accepted = [h.hash('first-one-1'), h.hash('second-one-2'), h.hash('third-one-3')];
    const refused = await h.hash('fourth-one-4').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OverloadedError);
    expect((refused as OverloadedError).code).toBe('overloaded');
    expect((refused as OverloadedError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    await expect(h.verifyDecoy('fifth-one-5')).rejects.toBeInstanceOf(OverloadedError);
    // The accepted ones finish, and once the queue drains the hasher takes work again.
    const [first] = await Promise.all(accepted);
    expect(await h.verify(first!, 'first-one-1')).toBe(true);
    await expect(h.verifyDecoy('sixth-one-6')).resolves.toBe(false);
  });

  it.runIf(process.platform === 'linux')(
    'hashes on threads at nice 19, the lowest CPU priority',
    async () => {
      const before = threadNiceness();
      const h = hasher(TEST_ARGON2, 2);
      await Promise.all([h.hash('busy-slot-one'), h.hash('busy-slot-two')]);
      expect(h.threads).toBe(2);
      expect(newNiceThreads(before)).toBe(2);
      // The event loop's own thread keeps its normal priority.
      expect(threadNiceness().get(process.pid)).toBe(0);
    },
  );

  it('close() stops every worker and fails later work', async () => {
    const before = process.platform === 'linux' ? niceThreads() : 0;
    const h = hasher(TEST_ARGON2, 2);
    const running = [h.hash('running-one-1'), h.hash('running-two-2'), h.hash('queued-three-3')];
    const settled = Promise.allSettled(running);
    await h.close();
    expect(h.threads).toBe(0);
    if (process.platform === 'linux') expect(niceThreads()).toBe(before);
    // Work in flight or queued at close fails rather than hanging.
    for (const outcome of await settled) expect(outcome.status).toBe('rejected');
    await expect(h.hash('after-close-4')).rejects.toThrow(/closed/);
    await h.close(); // idempotent
  });

  it('idle workers never keep a process alive, and a pending hash does until it is done', async () => {
    const passwords = fileURLToPath(new URL('./passwords.ts', import.meta.url));
    // No close(): the script ends when its hash is printed, as a CLI command would.
    const script = `
      import { PasswordHasher } from ${JSON.stringify(passwords)};
      const hasher = new PasswordHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 }, 2);
      hasher.hash('cli-password-1').then((hash) => console.log(hash.slice(0, 10), hasher.threads));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { timeout: 15_000 },
    );
    expect(stdout.trim()).toBe('$argon2id$ 1');
  });
});

describe('an overloaded hasher over HTTP', () => {
  it('a sign-in refused by a full queue answers 503 overloaded with Retry-After, and counts no failure', async () => {
    const t = await createTestApp({ env: { LOGIN_MAX_FAILURES: '2' } });
    try {
      const user = await createUser(t.app);
      const hasher = t.app.container.hasher;
      const verify = hasher.verify.bind(hasher);
      // The services share the container's hasher; make its queue full.
      hasher.verify = () => Promise.reject(new OverloadedError());
      const login = () =>
        t.app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: { email: user.email, password: user.password },
        });
      for (let i = 0; i < 4; i++) {
        const response = await login();
        expect(response.statusCode).toBe(503);
        expect(response.headers['content-type']).toContain('application/problem+json');
        expect(response.headers['retry-after']).toBe('1');
        expect(response.json()).toMatchObject({ status: 503, code: 'overloaded' });
      }
      // Four refusals past a limit of two failures: none was counted, so the account is not locked.
      hasher.verify = verify;
      expect((await login()).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('defaultPoolSize', () => {
  it('is one hashing thread per core, shared among the workers, never none', () => {
    const cores = availableParallelism();
    const alone = defaultPoolSize(1);
    expect(alone).toBeLessThanOrEqual(cores);
    expect(defaultPoolSize(2)).toBe(Math.max(1, Math.round(alone / 2)));
    expect(defaultPoolSize(cores)).toBe(1);
    expect(defaultPoolSize(cores * 4)).toBe(1);
    expect(defaultPoolSize(0)).toBe(defaultPoolSize(1));
  });
});
