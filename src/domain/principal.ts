/**
 * Who is making a request, resolved once by `authenticate`. Routes and services take this, never
 * an id from the body or a header, so identity cannot be chosen by the caller.
 */
export interface UserPrincipal {
  type: 'user';
  userId: string;
  sessionId: string;
  isSuperuser: boolean;
  /** The `tid` claim of a tenant-scoped token: informational, never trusted for authorization. */
  tokenTenantId?: string;
}

export type Principal = UserPrincipal;
