import { type Static, Type } from 'typebox';
import type { TenantRow } from '../../db/schema/index.js';
import { Timestamp, Uuid } from '../../platform/http/schemas.js';
import { SLUG_MAX, SLUG_MIN, SLUG_PATTERN } from './slug.js';

export const TenantView = Type.Object(
  { id: Uuid, name: Type.String(), slug: Type.String(), createdAt: Timestamp, updatedAt: Timestamp },
  { title: 'Tenant' },
);
export type TenantView = Static<typeof TenantView>;

export function toTenantView(row: TenantRow): TenantView {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** A role as other resources show it. */
export const RoleRef = Type.Object({ id: Uuid, name: Type.String() }, { title: 'RoleRef' });
export type RoleRef = Static<typeof RoleRef>;

/** A tenant the caller belongs to, with the roles they hold in it. */
export const MyTenantView = Type.Object({ tenant: TenantView, roles: Type.Array(RoleRef) });
export type MyTenantView = Static<typeof MyTenantView>;

/** At least one character that is not a space. */
const TenantName = Type.String({ minLength: 1, maxLength: 200, pattern: String.raw`\S` });
const Slug = Type.String({
  minLength: SLUG_MIN,
  maxLength: SLUG_MAX,
  pattern: SLUG_PATTERN,
  description: 'Lower-case letters and digits, single hyphens between them; 3-63 characters',
});

export const CreateTenant = Type.Object(
  { name: TenantName, slug: Type.Optional(Slug) },
  { additionalProperties: false },
);
export type CreateTenant = Static<typeof CreateTenant>;

export const UpdateTenant = Type.Object(
  { name: Type.Optional(TenantName), slug: Type.Optional(Slug) },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateTenant = Static<typeof UpdateTenant>;

export const TenantParams = Type.Object({ tenantId: Uuid }, { additionalProperties: false });
