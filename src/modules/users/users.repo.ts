import { and, desc, eq, ilike, lt, or, sql } from 'drizzle-orm';
import { type UserRow, users } from '../../db/schema/index.js';
import { ConflictError } from '../../domain/errors.js';
import type { Executor } from '../../platform/db.js';
import { likePattern, pageLimit } from '../../platform/pagination.js';
import { isUniqueViolation } from '../../platform/pg-errors.js';

export async function findUserById(tx: Executor, id: string): Promise<UserRow | undefined> {
  const [row] = await tx.select().from(users).where(eq(users.id, id));
  return row;
}

const selectByEmail = (tx: Executor) =>
  tx
    .select()
    .from(users)
    .where(sql`lower(${users.email}) = ${sql.placeholder('email')}`)
    .prepare('user_by_email');

/**
 * Every sign-in starts here, so the select is built once per executor (drizzle's prepared query)
 * rather than on every call: building it was a visible share of a sign-in's event-loop time.
 */
const byEmail = new WeakMap<Executor, ReturnType<typeof selectByEmail>>();

export async function findUserByEmail(tx: Executor, email: string): Promise<UserRow | undefined> {
  let select = byEmail.get(tx);
  if (!select) {
    select = selectByEmail(tx);
    byEmail.set(tx, select);
  }
  const [row] = await select.execute({ email: email.toLowerCase() });
  return row;
}

/** @throws ConflictError conflict when the email is taken (users_email_key) */
export async function insertUser(tx: Executor, values: typeof users.$inferInsert): Promise<UserRow> {
  try {
    const [row] = await tx.insert(users).values(values).returning();
    return row!;
  } catch (error) {
    if (isUniqueViolation(error, 'users_email_key')) {
      throw new ConflictError('conflict', 'An account with this email already exists');
    }
    throw error;
  }
}

/**
 * `at` comes from the service's Clock: it used to be `new Date()` here, so `updatedAt` ignored the
 * injected clock that `createdAt` follows and could even land before `createdAt`.
 */
export async function updateUser(
  tx: Executor,
  id: string,
  values: Partial<typeof users.$inferInsert>,
  at: Date,
): Promise<UserRow | undefined> {
  const [row] = await tx
    .update(users)
    .set({ ...values, updatedAt: at })
    .where(eq(users.id, id))
    .returning();
  return row;
}

export async function deleteUser(tx: Executor, id: string): Promise<boolean> {
  const rows = await tx.delete(users).where(eq(users.id, id)).returning({ id: users.id });
  return rows.length > 0;
}

export async function listUsers(
  tx: Executor,
  options: { q?: string | undefined; before?: string | undefined; limit: number },
): Promise<UserRow[]> {
  const search = options.q
    ? or(ilike(users.email, likePattern(options.q)), ilike(users.name, likePattern(options.q)))
    : undefined;
  return tx
    .select()
    .from(users)
    .where(and(search, options.before ? lt(users.id, options.before) : undefined))
    .orderBy(desc(users.id))
    .limit(pageLimit(options.limit));
}

export async function countActiveSuperusers(tx: Executor): Promise<number> {
  const [row] = await tx
    .select({ n: sql<number>`count(*)::int` })
    .from(users)
    .where(and(eq(users.isSuperuser, true), eq(users.isActive, true)));
  return Number(row?.n ?? 0);
}
