import { timestamp, uuid } from 'drizzle-orm/pg-core';
import { uuidv7 } from '../../domain/ids.js';

/** Every row's id is a UUIDv7 made in code (PostgreSQL 15 has no uuidv7()). */
export const id = () =>
  uuid('id')
    .primaryKey()
    .$defaultFn(() => uuidv7());

export const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const createdAt = () => timestamptz('created_at').notNull().defaultNow();
export const updatedAt = () => timestamptz('updated_at').notNull().defaultNow();
