import { type Static, Type } from 'typebox';
import type { ApiKeyRow } from '../../db/schema/index.js';
import { Nullable, Timestamp, Uuid } from '../../platform/http/schemas.js';
import { PermissionKey } from '../permissions/permissions.schemas.js';

const Scope = Type.Union([Type.Literal('read'), Type.Literal('write'), Type.Literal('admin')], {
  description:
    'read: every *:read permission; write: all but tenant:delete, members:*, roles:manage, api_keys:manage; admin: all but tenant:delete',
});

export const ApiKeyView = Type.Object(
  {
    id: Uuid,
    tenantId: Uuid,
    name: Type.String(),
    prefix: Type.String({ description: "The key's first 12 characters, to recognise it" }),
    scope: Scope,
    permissions: Type.Array(Type.String(), { description: 'What the key holds, sorted; fixed when made' }),
    expiresAt: Nullable(Timestamp),
    lastUsedAt: Nullable(Timestamp, { description: 'Updated at most once a minute' }),
    revokedAt: Nullable(Timestamp),
    createdAt: Timestamp,
    createdBy: Nullable(Uuid, {
      description: 'The user who made it; null once that user is deleted, or when a key made it',
    }),
  },
  { $id: 'ApiKey', title: 'ApiKey' },
);
export type ApiKeyView = Static<typeof ApiKeyView>;

export const IssuedApiKey = Type.Object({
  apiKey: ApiKeyView,
  key: Type.String({ description: 'The secret (tsk_...): shown this once, never again' }),
});
export type IssuedApiKey = Static<typeof IssuedApiKey>;

export function toApiKeyView(row: ApiKeyRow, permissions: string[]): ApiKeyView {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    prefix: row.prefix,
    scope: row.scope,
    permissions,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    createdBy: row.createdBy,
  };
}

export const CreateApiKey = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    scope: Scope,
    permissions: Type.Optional(
      Type.Array(PermissionKey, {
        minItems: 1,
        maxItems: 500,
        description: 'Narrows the scope further; every key must be within the scope',
      }),
    ),
    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'In the future' })),
  },
  { additionalProperties: false },
);
export type CreateApiKey = Static<typeof CreateApiKey>;

export const TenantApiKeysParams = Type.Object({ tenantId: Uuid }, { additionalProperties: false });
export const ApiKeyParams = Type.Object({ tenantId: Uuid, id: Uuid }, { additionalProperties: false });
