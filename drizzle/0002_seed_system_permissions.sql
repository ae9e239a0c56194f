-- The system permission keys (src/domain/permissions.ts). Fixed: the API refuses to change them.
INSERT INTO "permissions" ("key", "description", "system") VALUES
  ('tenant:read', 'View the tenant', true),
  ('tenant:update', 'Rename the tenant or change its slug', true),
  ('tenant:delete', 'Delete the tenant and everything in it', true),
  ('members:read', 'List members and their roles', true),
  ('members:invite', 'Invite people to the tenant', true),
  ('members:update', 'Change members'' roles', true),
  ('members:remove', 'Remove members from the tenant', true),
  ('roles:read', 'List roles and their permissions', true),
  ('roles:manage', 'Create, change and delete custom roles', true),
  ('api_keys:read', 'List API keys', true),
  ('api_keys:manage', 'Create, rotate and revoke API keys', true),
  ('audit:read', 'Read and verify the audit log', true)
ON CONFLICT ("key") DO NOTHING;
