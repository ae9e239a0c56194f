import { createHash } from 'node:crypto';

/** The hash a log's first entry chains to (and an empty log's head). */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields an entry's hash covers: every column but `prev_hash` and `hash` themselves. */
export interface ChainedFields {
  id: string;
  tenantId: string | null;
  seq: number;
  occurredAt: Date;
  actorType: string;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  userAgent: string | null;
  metadata: Record<string, unknown>;
}

/** JSON with object keys sorted at every depth, so the same entry always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object)
    .filter((key) => object[key] !== undefined)
    .sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`).join(',')}}`;
}

/** SHA-256 (hex) of the previous entry's hash followed by this entry's canonical JSON. */
export function entryHash(prevHash: string, entry: ChainedFields): string {
  const fields = {
    id: entry.id,
    tenantId: entry.tenantId,
    seq: entry.seq,
    occurredAt: entry.occurredAt.toISOString(),
    actorType: entry.actorType,
    actorId: entry.actorId,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId,
    ip: entry.ip,
    userAgent: entry.userAgent,
    metadata: entry.metadata,
  };
  return createHash('sha256').update(prevHash).update(canonicalJson(fields)).digest('hex');
}

/** Keys that name a secret. Metadata holding one is a programming error, refused before it is stored. */
const SECRET_KEY = /password|passwd|token|secret|hash|^key$|recovery|totp|^otp|private_?key/i;

export function secretKeysIn(value: unknown, path = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap((item, i) => secretKeysIn(item, `${path}/${i}`));
  return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) => [
    ...(SECRET_KEY.test(key) ? [`${path}/${key}`] : []),
    ...secretKeysIn(inner, `${path}/${key}`),
  ]);
}
