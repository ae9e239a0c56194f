import { randomBytes } from 'node:crypto';

/** A tenant slug: lower-case letters and digits in hyphen-separated runs, 3-63 characters. */
export const SLUG_PATTERN = '^[a-z0-9](-?[a-z0-9])*$';
export const SLUG_MIN = 3;
export const SLUG_MAX = 63;

/** Letters NFKD does not take apart into a base letter and a mark. */
const SPECIAL: Record<string, string> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  đ: 'd',
  ð: 'd',
  ł: 'l',
  þ: 'th',
  ı: 'i',
};

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** `length` random lower-case letters and digits. */
export function randomSuffix(length = 6): string {
  const bytes = randomBytes(length);
  return Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join('');
}

function trimHyphens(value: string): string {
  return value.replace(/^-+|-+$/g, '');
}

/**
 * A slug from a tenant's name: accents stripped (`Café Zürich` → `cafe-zurich`), everything but
 * letters and digits collapsed to single hyphens, cut to 63 characters. A name that leaves fewer
 * than 3 characters (`X`, or only symbols or non-Latin script) is padded with a random suffix, so
 * the result always matches the slug rule.
 */
export function slugify(name: string): string {
  const base = trimHyphens(
    name
      .normalize('NFKD')
      .replace(/\p{M}+/gu, '')
      .toLowerCase()
      .replace(/[ßæœøđðłþı]/g, (c) => SPECIAL[c] ?? '')
      .replace(/[^a-z0-9]+/g, '-'),
  );
  const cut = trimHyphens(base.slice(0, SLUG_MAX));
  if (cut.length >= SLUG_MIN) return cut;
  return cut ? `${cut}-${randomSuffix(4)}` : `tenant-${randomSuffix(4)}`;
}

/** The slug with a short random suffix, still within 63 characters: for when the plain one is taken. */
export function withRandomSuffix(slug: string): string {
  const suffix = randomSuffix(6);
  return `${trimHyphens(slug.slice(0, SLUG_MAX - suffix.length - 1))}-${suffix}`;
}
