import { type Static, Type } from 'typebox';
import { Nullable, Timestamp, Uuid } from '../../platform/http/schemas.js';

export const AuditEntryView = Type.Object(
  {
    id: Uuid,
    tenantId: Nullable(Uuid, { description: 'null: the platform log' }),
    occurredAt: Timestamp,
    actor: Type.Object({
      type: Type.Union([Type.Literal('user'), Type.Literal('api_key'), Type.Literal('system')]),
      id: Nullable(Type.String()),
    }),
    action: Type.String({ description: 'resource.verb, e.g. member.roles_replaced' }),
    target: Type.Object({ type: Nullable(Type.String()), id: Nullable(Type.String()) }),
    ip: Nullable(Type.String()),
    userAgent: Nullable(Type.String()),
    metadata: Type.Record(Type.String(), Type.Unknown(), {
      description: 'Facts about the change; never a secret',
    }),
    hash: Type.String({
      description: "SHA-256 (hex) over the previous entry's hash and this entry's canonical JSON",
    }),
  },
  { $id: 'AuditEntry', title: 'AuditEntry' },
);
export type AuditEntryView = Static<typeof AuditEntryView>;

export const AuditListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    actorId: Type.Optional(Uuid),
    since: Type.Optional(Timestamp),
    until: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);
export type AuditListQuery = Static<typeof AuditListQuery>;

export const AuditVerification = Type.Object({
  valid: Type.Boolean(),
  checked: Type.Integer({ description: 'Entries recomputed (up to the first invalid one)' }),
  firstInvalidId: Nullable(Uuid),
});
export type AuditVerification = Static<typeof AuditVerification>;
