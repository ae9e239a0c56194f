import { availableParallelism } from 'node:os';
import { hash, verify } from '@node-rs/argon2';
import { normalizePassword } from '../../domain/password-policy.js';
import { randomToken } from '../../domain/secrets.js';
import { Semaphore } from '../../domain/semaphore.js';

export interface Argon2Cost {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** OWASP Password Storage Cheat Sheet, Argon2id: m=19 MiB, t=2, p=1. */
/** @node-rs/argon2's Algorithm.Argon2id (a const enum, which isolated modules cannot import). */
const ARGON2ID = 2;

export const OWASP_ARGON2: Argon2Cost = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

/**
 * Argon2id through @node-rs/argon2, which runs on libuv's thread pool and never on the event
 * loop. A semaphore bounds how many hashes run at once, so a login flood queues here instead of
 * taking every pool thread (and with them file and DNS work) from the rest of the service.
 */
export class PasswordHasher {
  readonly #slots: Semaphore;
  readonly #cost: Argon2Cost;
  #decoy: Promise<string> | undefined;

  constructor(
    cost: Argon2Cost = OWASP_ARGON2,
    concurrency = Math.max(1, Math.min(availableParallelism(), 3)),
  ) {
    this.#cost = cost;
    this.#slots = new Semaphore(concurrency);
  }

  hash(password: string): Promise<string> {
    return this.#slots.run(() => hash(normalizePassword(password), { algorithm: ARGON2ID, ...this.#cost }));
  }

  /** False for a wrong password and for a hash that cannot be parsed. */
  verify(passwordHash: string, password: string): Promise<boolean> {
    return this.#slots.run(() => verify(passwordHash, normalizePassword(password)).catch(() => false));
  }

  /**
   * Spends the same work as a real verification, for unknown or deactivated accounts, so response
   * time does not reveal whether an account exists.
   */
  async verifyDecoy(password: string): Promise<false> {
    this.#decoy ??= this.hash(randomToken());
    await this.verify(await this.#decoy, password);
    return false;
  }
}
