import { type Static, Type } from 'typebox';
import { Email, Nullable, Timestamp, Uuid } from '../../platform/http/schemas.js';
import { RoleRef } from '../tenants/tenants.schemas.js';

export type InvitationStatus = 'pending' | 'accepted' | 'declined' | 'revoked' | 'expired';

export const InvitationView = Type.Object(
  {
    id: Uuid,
    tenantId: Uuid,
    email: Type.String(),
    roles: Type.Array(RoleRef),
    status: Type.Union([
      Type.Literal('pending'),
      Type.Literal('accepted'),
      Type.Literal('declined'),
      Type.Literal('revoked'),
      Type.Literal('expired'),
    ]),
    invitedBy: Type.Union([Type.Object({ id: Uuid, email: Type.String() }), Type.Null()], {
      description: 'Null when a key sent it or the inviter is gone',
    }),
    expiresAt: Timestamp,
    createdAt: Timestamp,
    acceptedAt: Nullable(Timestamp),
  },
  { title: 'Invitation' },
);
export type InvitationView = Static<typeof InvitationView>;

export const CreateInvitation = Type.Object(
  {
    email: Email,
    roleIds: Type.Array(Uuid, {
      minItems: 1,
      maxItems: 100,
      description: 'Roles of this tenant the invitee gets on accepting',
    }),
  },
  { additionalProperties: false },
);
export type CreateInvitation = Static<typeof CreateInvitation>;

export const InvitationParams = Type.Object({ tenantId: Uuid, id: Uuid }, { additionalProperties: false });
export const MyInvitationParams = Type.Object({ id: Uuid }, { additionalProperties: false });

export const InvitationListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    status: Type.Optional(
      Type.Union([
        Type.Literal('pending'),
        Type.Literal('accepted'),
        Type.Literal('declined'),
        Type.Literal('revoked'),
        Type.Literal('expired'),
      ]),
    ),
  },
  { additionalProperties: false },
);

export const AcceptInvitation = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 512 }) },
  { additionalProperties: false },
);
