import { desc, gt, isNull, or, sql } from 'drizzle-orm';
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { type SigningKeyRow, signingKeys } from '../../db/schema/index.js';
import type { Clock } from '../../domain/clock.js';
import { randomToken, type SecretBox } from '../../domain/secrets.js';
import { type Db, notify } from '../../platform/db.js';
import { type AuditRecorder, unwiredAudit } from '../audit/audit.service.js';
import { SYSTEM_CONTEXT } from '../audit/audit-context.js';

export const SIGNING_ALGORITHM = 'EdDSA';
export const SIGNING_KEYS_CHANNEL = 'tessera_signing_keys';
const KEY_CREATION_LOCK = 0x7e55e7b;
/** Unknown `kid`s make us re-read the table at most this often, so they cannot flood the database. */
const RELOAD_INTERVAL_MS = 5_000;

interface LoadedKey {
  kid: string;
  publicJwk: JWK;
  publicKey: CryptoKey;
  privateKey: CryptoKey;
  createdAt: Date;
  retiredAt: Date | null;
}

/**
 * The JWT signing keys, read from the database and kept in memory. The newest unretired key signs;
 * a retired key keeps verifying (and stays in the JWKS) until every token it signed has expired.
 */
export class SigningKeyStore {
  #keys = new Map<string, LoadedKey>();
  #active: LoadedKey | undefined;
  #lastLoad = 0;
  /** The audit log, for rotations; the container sets it (the first key, made by init, is no event). */
  audit: AuditRecorder = unwiredAudit;

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
    private readonly accessTokenTtl: number,
    private readonly clock: Clock,
  ) {}

  /** Loads the keys, creating the first one if the table is empty. */
  async init(): Promise<void> {
    await this.reload();
    if (!this.#active) {
      await this.db.transaction(async (tx) => {
        // Two instances starting on an empty table must not both create a key.
        await tx.execute(sql`select pg_advisory_xact_lock(${KEY_CREATION_LOCK})`);
        const [existing] = await tx
          .select({ id: signingKeys.id })
          .from(signingKeys)
          .where(isNull(signingKeys.retiredAt));
        if (!existing) await tx.insert(signingKeys).values(await this.#newKey());
      });
      await this.reload();
    }
  }

  async reload(): Promise<void> {
    this.#lastLoad = Date.now();
    const cutoff = new Date(this.clock.now().getTime() - this.#publishWindowMs());
    const rows = await this.db
      .select()
      .from(signingKeys)
      .where(or(isNull(signingKeys.retiredAt), gt(signingKeys.retiredAt, cutoff)))
      .orderBy(desc(signingKeys.createdAt));
    const keys = new Map<string, LoadedKey>();
    for (const row of rows) keys.set(row.id, this.#keys.get(row.id) ?? (await this.#load(row)));
    // Retired flags change in place, so take them from the rows rather than the old map.
    for (const row of rows) keys.get(row.id)!.retiredAt = row.retiredAt;
    this.#keys = keys;
    this.#active = [...keys.values()].find((k) => k.retiredAt === null);
  }

  /** Makes a new key the signing key; the old one retires but verifies until its tokens expire. */
  async rotate(): Promise<string> {
    const key = await this.#newKey();
    await this.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${KEY_CREATION_LOCK})`);
      const retired = await tx
        .update(signingKeys)
        .set({ retiredAt: this.clock.now() })
        .where(isNull(signingKeys.retiredAt))
        .returning({ id: signingKeys.id });
      await tx.insert(signingKeys).values(key);
      await notify(tx, SIGNING_KEYS_CHANNEL, key.id);
      // Only the public key ids: the sealed private half never reaches the log.
      await this.audit.record(tx, SYSTEM_CONTEXT, {
        tenantId: null,
        action: 'signing_key.rotated',
        target: { type: 'signing_key', id: key.id },
        metadata: { kid: key.id, retiredKids: retired.map((r) => r.id) },
      });
    });
    await this.reload();
    return key.id;
  }

  signingKey(): { kid: string; key: CryptoKey } {
    if (!this.#active) throw new Error('No active signing key; call init() first');
    return { kid: this.#active.kid, key: this.#active.privateKey };
  }

  /** The public key for `kid`, or undefined when it is not one of ours (or no longer valid). */
  async verificationKey(kid: string): Promise<CryptoKey | undefined> {
    let key = this.#keys.get(kid);
    if (!key && Date.now() - this.#lastLoad > RELOAD_INTERVAL_MS) {
      // A key made by another instance whose notification has not arrived yet.
      await this.reload();
      key = this.#keys.get(kid);
    }
    if (!key || !this.#published(key)) return undefined;
    return key.publicKey;
  }

  /** Whether `kid` still verifies tokens: synchronous, for tokens verified earlier (AccessTokens). */
  isPublished(kid: string): boolean {
    const key = this.#keys.get(kid);
    return key !== undefined && this.#published(key);
  }

  jwks(): { keys: JWK[] } {
    return {
      keys: [...this.#keys.values()]
        .filter((k) => this.#published(k))
        .map((k) => ({ ...k.publicJwk, kid: k.kid, alg: SIGNING_ALGORITHM, use: 'sig' })),
    };
  }

  #published(key: LoadedKey): boolean {
    return (
      key.retiredAt === null || key.retiredAt.getTime() > this.clock.now().getTime() - this.#publishWindowMs()
    );
  }

  /** A retired key is kept one token lifetime plus a minute for clock skew. */
  #publishWindowMs(): number {
    return (this.accessTokenTtl + 60) * 1000;
  }

  async #newKey(): Promise<typeof signingKeys.$inferInsert> {
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, {
      crv: 'Ed25519',
      extractable: true,
    });
    const publicJwk = await exportJWK(publicKey);
    const privateJwk = await exportJWK(privateKey);
    return {
      id: randomToken(12),
      algorithm: SIGNING_ALGORITHM,
      publicJwk: { kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x },
      privateKeySealed: this.box.encrypt(JSON.stringify(privateJwk)),
      createdAt: this.clock.now(),
    };
  }

  async #load(row: SigningKeyRow): Promise<LoadedKey> {
    const publicJwk = row.publicJwk as JWK;
    const privateJwk = JSON.parse(this.box.decrypt(row.privateKeySealed)) as JWK;
    return {
      kid: row.id,
      publicJwk,
      publicKey: (await importJWK(publicJwk, SIGNING_ALGORITHM)) as CryptoKey,
      privateKey: (await importJWK(privateJwk, SIGNING_ALGORITHM)) as CryptoKey,
      createdAt: row.createdAt,
      retiredAt: row.retiredAt,
    };
  }
}
