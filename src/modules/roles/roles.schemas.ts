import { type Static, Type } from 'typebox';
import type { RoleRow } from '../../db/schema/index.js';
import { Timestamp, Uuid } from '../../platform/http/schemas.js';
import { PermissionKey } from '../permissions/permissions.schemas.js';

export const RoleView = Type.Object(
  {
    id: Uuid,
    tenantId: Uuid,
    name: Type.String(),
    description: Type.String(),
    builtIn: Type.Boolean({ description: 'owner, admin or member: fixed, cannot be changed or deleted' }),
    permissions: Type.Array(Type.String(), {
      description: 'Sorted keys; built-in roles hold theirs by rule over the catalogue',
    }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Role', title: 'Role' },
);
export type RoleView = Static<typeof RoleView>;

export function toRoleView(row: RoleRow, permissions: string[]): RoleView {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    description: row.description,
    builtIn: row.builtIn !== null,
    permissions,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const Name = Type.String({
  minLength: 1,
  maxLength: 100,
  description: 'Unique in the tenant, case-insensitively',
});
const Description = Type.String({ maxLength: 500 });
const PermissionKeys = Type.Array(PermissionKey, { maxItems: 500, description: 'Keys of the catalogue' });

export const CreateRole = Type.Object(
  { name: Name, description: Type.Optional(Description), permissions: PermissionKeys },
  { additionalProperties: false },
);
export type CreateRole = Static<typeof CreateRole>;

export const UpdateRole = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    permissions: Type.Optional(PermissionKeys),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateRole = Static<typeof UpdateRole>;

export const SetRolePermissions = Type.Object(
  { permissions: PermissionKeys },
  { additionalProperties: false },
);

export const TenantRolesParams = Type.Object({ tenantId: Uuid }, { additionalProperties: false });
export const RoleParams = Type.Object({ tenantId: Uuid, roleId: Uuid }, { additionalProperties: false });
