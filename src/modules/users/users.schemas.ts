import { type Static, Type } from 'typebox';
import type { UserRow } from '../../db/schema/index.js';
import { Email, NewPassword, Nullable, Password, Timestamp, Uuid } from '../../platform/http/schemas.js';

export const UserView = Type.Object(
  {
    id: Uuid,
    email: Type.String(),
    name: Nullable(Type.String()),
    emailVerified: Type.Boolean(),
    isActive: Type.Boolean(),
    isSuperuser: Type.Boolean(),
    mfaEnabled: Type.Boolean(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'User', title: 'User' },
);
export type UserView = Static<typeof UserView>;

/**
 * Views by the row they were made from. The session cache answers every request of a session with
 * the same row object until the user changes, and a changed user is a new row: so `GET /me` formats
 * its two timestamps once per change, not per request (4 % of the request's CPU). Frozen, since
 * every caller shares it.
 */
const views = new WeakMap<UserRow, UserView>();

export function toUserView(row: UserRow): UserView {
  let view = views.get(row);
  if (!view) {
    view = Object.freeze(makeUserView(row));
    views.set(row, view);
  }
  return view;
}

function makeUserView(row: UserRow): UserView {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    emailVerified: row.emailVerified,
    isActive: row.isActive,
    isSuperuser: row.isSuperuser,
    mfaEnabled: row.mfaEnabled,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const Name = Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()]);

export const UpdateMe = Type.Object({ name: Name }, { additionalProperties: false });

export const ChangePassword = Type.Object(
  { currentPassword: Password, newPassword: NewPassword },
  { additionalProperties: false },
);

export const CreateUser = Type.Object(
  {
    email: Email,
    password: NewPassword,
    name: Type.Optional(Name),
    isSuperuser: Type.Optional(Type.Boolean()),
    emailVerified: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateUser = Static<typeof CreateUser>;

export const UpdateUser = Type.Object(
  {
    name: Type.Optional(Name),
    isActive: Type.Optional(Type.Boolean()),
    isSuperuser: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateUser = Static<typeof UpdateUser>;

export const UserParams = Type.Object({ id: Uuid }, { additionalProperties: false });
