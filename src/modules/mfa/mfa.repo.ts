import { and, eq, gt, isNotNull, isNull, lt, lte, sql } from 'drizzle-orm';
import {
  mfaChallenges,
  recoveryCodes,
  type TotpAuthenticatorRow,
  totpAuthenticators,
  users,
} from '../../db/schema/index.js';
import type { Executor } from '../../platform/db.js';

export async function findAuthenticator(
  tx: Executor,
  userId: string,
): Promise<TotpAuthenticatorRow | undefined> {
  const [row] = await tx.select().from(totpAuthenticators).where(eq(totpAuthenticators.userId, userId));
  return row;
}

/**
 * Stores a new pending secret, replacing a pending one. Answers false, changing nothing, when the
 * user's authenticator is already enabled.
 */
export async function upsertPending(
  tx: Executor,
  userId: string,
  secretSealed: string,
  at: Date,
): Promise<boolean> {
  const rows = await tx
    .insert(totpAuthenticators)
    .values({ userId, secretSealed, enabledAt: null, lastUsedStep: -1, createdAt: at, updatedAt: at })
    .onConflictDoUpdate({
      target: totpAuthenticators.userId,
      set: { secretSealed, lastUsedStep: -1, createdAt: at, updatedAt: at },
      setWhere: isNull(totpAuthenticators.enabledAt),
    })
    .returning({ userId: totpAuthenticators.userId });
  return rows.length > 0;
}

/**
 * Enables the pending authenticator the code was checked against (same sealed secret), recording
 * the code's step as used. False when it changed or was enabled meanwhile.
 */
export async function enable(
  tx: Executor,
  userId: string,
  secretSealed: string,
  step: number,
  at: Date,
): Promise<boolean> {
  const rows = await tx
    .update(totpAuthenticators)
    .set({ enabledAt: at, lastUsedStep: step, updatedAt: at })
    .where(
      and(
        eq(totpAuthenticators.userId, userId),
        eq(totpAuthenticators.secretSealed, secretSealed),
        isNull(totpAuthenticators.enabledAt),
        lt(totpAuthenticators.lastUsedStep, step),
      ),
    )
    .returning({ userId: totpAuthenticators.userId });
  return rows.length > 0;
}

/**
 * Accepts a code of time-step `step` by raising `last_used_step` to it. Only one of any number of
 * concurrent callers can, and never twice for one step or for an older step: no replay.
 */
export async function advanceStep(tx: Executor, userId: string, step: number, at: Date): Promise<boolean> {
  const rows = await tx
    .update(totpAuthenticators)
    .set({ lastUsedStep: step, updatedAt: at })
    .where(
      and(
        eq(totpAuthenticators.userId, userId),
        isNotNull(totpAuthenticators.enabledAt),
        lt(totpAuthenticators.lastUsedStep, step),
      ),
    )
    .returning({ userId: totpAuthenticators.userId });
  return rows.length > 0;
}

export async function replaceRecoveryCodes(
  tx: Executor,
  userId: string,
  hashes: string[],
  at: Date,
): Promise<void> {
  await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  await tx.insert(recoveryCodes).values(hashes.map((codeHash) => ({ userId, codeHash, createdAt: at })));
}

export async function unusedRecoveryCodes(
  tx: Executor,
  userId: string,
): Promise<Array<{ id: string; codeHash: string }>> {
  return tx
    .select({ id: recoveryCodes.id, codeHash: recoveryCodes.codeHash })
    .from(recoveryCodes)
    .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)))
    .orderBy(recoveryCodes.id);
}

/** Spends a recovery code; only one of any number of concurrent callers can. */
export async function useRecoveryCode(tx: Executor, id: string, at: Date): Promise<boolean> {
  const rows = await tx
    .update(recoveryCodes)
    .set({ usedAt: at })
    .where(and(eq(recoveryCodes.id, id), isNull(recoveryCodes.usedAt)))
    .returning({ id: recoveryCodes.id });
  return rows.length > 0;
}

/** Removes the authenticator, the recovery codes and open challenges; false when there was none. */
export async function removeAll(tx: Executor, userId: string): Promise<boolean> {
  const removed = await tx
    .delete(totpAuthenticators)
    .where(eq(totpAuthenticators.userId, userId))
    .returning({ enabledAt: totpAuthenticators.enabledAt });
  await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  await tx.delete(mfaChallenges).where(eq(mfaChallenges.userId, userId));
  return removed.some((r) => r.enabledAt !== null);
}

export async function setMfaEnabled(tx: Executor, userId: string, enabled: boolean, at: Date): Promise<void> {
  await tx.update(users).set({ mfaEnabled: enabled, updatedAt: at }).where(eq(users.id, userId));
}

/** Records a new challenge (an mfaToken's jti) and drops the user's expired ones. */
export async function insertChallenge(
  tx: Executor,
  values: { jti: string; userId: string; createdAt: Date; expiresAt: Date },
): Promise<void> {
  await tx
    .delete(mfaChallenges)
    .where(and(eq(mfaChallenges.userId, values.userId), lte(mfaChallenges.expiresAt, values.createdAt)));
  await tx.insert(mfaChallenges).values(values);
}

/**
 * Counts one code attempt against a live, unused challenge of `userId`. False when the challenge
 * is unknown, used, expired or has had `maxAttempts` already.
 */
export async function countAttempt(
  tx: Executor,
  jti: string,
  userId: string,
  now: Date,
  maxAttempts: number,
): Promise<boolean> {
  const rows = await tx
    .update(mfaChallenges)
    .set({ attempts: sql`${mfaChallenges.attempts} + 1` })
    .where(
      and(
        eq(mfaChallenges.jti, jti),
        eq(mfaChallenges.userId, userId),
        isNull(mfaChallenges.usedAt),
        gt(mfaChallenges.expiresAt, now),
        lt(mfaChallenges.attempts, maxAttempts),
      ),
    )
    .returning({ jti: mfaChallenges.jti });
  return rows.length > 0;
}

/** Marks a challenge used; only one of any number of concurrent callers can. */
export async function useChallenge(tx: Executor, jti: string, at: Date): Promise<boolean> {
  const rows = await tx
    .update(mfaChallenges)
    .set({ usedAt: at })
    .where(and(eq(mfaChallenges.jti, jti), isNull(mfaChallenges.usedAt), gt(mfaChallenges.expiresAt, at)))
    .returning({ jti: mfaChallenges.jti });
  return rows.length > 0;
}
