import { type Static, Type } from 'typebox';
import type { PermissionRow } from '../../db/schema/index.js';
import { PERMISSION_KEY } from '../../domain/permissions.js';

/** A permission key: `resource:action`, lower case, as in `invoices:approve`. */
export const PermissionKey = Type.String({
  pattern: PERMISSION_KEY.source,
  maxLength: 100,
  description: 'resource:action, lower case (`invoices:approve`)',
});

export const PermissionView = Type.Object(
  {
    key: Type.String(),
    description: Type.String(),
    system: Type.Boolean({ description: 'A fixed key of the service itself; cannot be changed or removed' }),
  },
  { $id: 'Permission', title: 'Permission' },
);
export type PermissionView = Static<typeof PermissionView>;

export function toPermissionView(row: PermissionRow): PermissionView {
  return { key: row.key, description: row.description, system: row.system };
}

const Description = Type.String({ maxLength: 500 });

export const CreatePermission = Type.Object(
  { key: PermissionKey, description: Description },
  { additionalProperties: false },
);
export type CreatePermission = Static<typeof CreatePermission>;

export const UpdatePermission = Type.Object({ description: Description }, { additionalProperties: false });

export const PermissionParams = Type.Object({ key: PermissionKey }, { additionalProperties: false });

/** The catalogue is listed by key, ascending; the cursor is the last key of the page. */
export const PermissionListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'Case-insensitive search of key and description',
      }),
    ),
  },
  { additionalProperties: false },
);
export type PermissionListQuery = Static<typeof PermissionListQuery>;
