/**
 * The permission catalogue's fixed part and the rules of built-in roles. Application permissions
 * (added by superusers, say `invoices:approve`) live in the database beside these.
 */
export const SYSTEM_PERMISSIONS: Readonly<Record<string, string>> = {
  'tenant:read': 'View the tenant',
  'tenant:update': 'Rename the tenant or change its slug',
  'tenant:delete': 'Delete the tenant and everything in it',
  'members:read': 'List members and their roles',
  'members:invite': 'Invite people to the tenant',
  'members:update': "Change members' roles",
  'members:remove': 'Remove members from the tenant',
  'roles:read': 'List roles and their permissions',
  'roles:manage': 'Create, change and delete custom roles',
  'api_keys:read': 'List API keys',
  'api_keys:manage': 'Create, rotate and revoke API keys',
  'audit:read': 'Read and verify the audit log',
};

export const PERMISSION_KEY = /^[a-z][a-z0-9_]*(:[a-z][a-z0-9_]*)+$/;

export function isSystemPermission(key: string): boolean {
  return Object.hasOwn(SYSTEM_PERMISSIONS, key);
}

export const BUILT_IN_ROLES = ['owner', 'admin', 'member'] as const;
export type BuiltInRole = (typeof BUILT_IN_ROLES)[number];

const MEMBER_PERMISSIONS = ['tenant:read', 'members:read', 'roles:read'];

/**
 * Built-in roles are defined by rule, not by stored rows, so they follow the catalogue: `owner`
 * holds every permission (application ones too, including those added later), `admin` all but
 * `tenant:delete`, `member` the three read permissions.
 */
export function builtInRolePermissions(role: BuiltInRole, catalogue: Iterable<string>): string[] {
  if (role === 'member') return [...MEMBER_PERMISSIONS];
  const all = [...catalogue];
  return role === 'owner' ? all : all.filter((key) => key !== 'tenant:delete');
}

/** The permissions in `wanted` that `held` lacks: what a grant would escalate to. */
export function missingPermissions(held: ReadonlySet<string>, wanted: Iterable<string>): string[] {
  return [...new Set(wanted)].filter((key) => !held.has(key)).sort();
}
