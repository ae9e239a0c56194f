import { boolean, pgTable, text } from 'drizzle-orm/pg-core';
import { createdAt, updatedAt } from './columns.js';

/**
 * The permission catalogue: the system keys (seeded by a migration, fixed) and application keys
 * that superusers add for their own services (`invoices:approve`).
 */
export const permissions = pgTable('permissions', {
  key: text('key').primaryKey(),
  description: text('description').notNull().default(''),
  system: boolean('system').notNull().default(false),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export type PermissionRow = typeof permissions.$inferSelect;
