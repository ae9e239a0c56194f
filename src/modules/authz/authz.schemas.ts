import { type Static, Type } from 'typebox';
import { Uuid } from '../../platform/http/schemas.js';
import { PermissionKey } from '../permissions/permissions.schemas.js';

export const MAX_BATCH_CHECKS = 100;

export const Check = Type.Object(
  {
    tenantId: Uuid,
    permission: PermissionKey,
    userId: Type.Optional(
      Type.String({
        format: 'uuid',
        description: 'Whom to check; the caller when absent. Needs members:read.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type Check = Static<typeof Check>;

export const CheckResult = Type.Object({ allowed: Type.Boolean() });

export const CheckBatch = Type.Object(
  { checks: Type.Array(Check, { minItems: 1, maxItems: MAX_BATCH_CHECKS }) },
  { additionalProperties: false },
);

export const CheckBatchResult = Type.Object({ results: Type.Array(CheckResult) });
