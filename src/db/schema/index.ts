export * from './api-keys.js';
export * from './invitations.js';
export * from './mail.js';
export * from './permissions.js';
export * from './sessions.js';
export * from './signing-keys.js';
export * from './tenants.js';
export * from './users.js';
