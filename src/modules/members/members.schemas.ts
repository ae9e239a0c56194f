import { type Static, Type } from 'typebox';
import { Nullable, Timestamp, Uuid } from '../../platform/http/schemas.js';
import { RoleRef } from '../tenants/tenants.schemas.js';

export const MembershipView = Type.Object(
  {
    user: Type.Object({ id: Uuid, email: Type.String(), name: Nullable(Type.String()) }),
    roles: Type.Array(RoleRef),
    createdAt: Timestamp,
  },
  { title: 'Membership' },
);
export type MembershipView = Static<typeof MembershipView>;

export const MemberParams = Type.Object({ tenantId: Uuid, userId: Uuid }, { additionalProperties: false });

export const SetMemberRoles = Type.Object(
  {
    roleIds: Type.Array(Uuid, {
      minItems: 1,
      maxItems: 100,
      description: "The member's roles from now on: at least one, each a role of this tenant",
    }),
  },
  { additionalProperties: false },
);
export type SetMemberRoles = Static<typeof SetMemberRoles>;

export const MemberPermissionsView = Type.Object({
  permissions: Type.Array(Type.String(), { description: 'Effective permission keys, sorted' }),
});
