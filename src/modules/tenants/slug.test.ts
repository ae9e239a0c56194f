import { describe, expect, it } from 'vitest';
import { SLUG_PATTERN, slugify, withRandomSuffix } from './slug.js';

const SLUG = new RegExp(SLUG_PATTERN);

describe('slugify', () => {
  it.each([
    ['Acme Inc.', 'acme-inc'],
    ['Café Zürich', 'cafe-zurich'],
    ['  Ærø -- Straße!!  ', 'aero-strasse'],
    ['Łódź Ørsted', 'lodz-orsted'],
    ['ACME___Widgets & Co', 'acme-widgets-co'],
    ['Crème brûlée 2026', 'creme-brulee-2026'],
  ])('%j → %j', (name, slug) => {
    expect(slugify(name)).toBe(slug);
  });

  it('cuts long names to 63 characters without a trailing hyphen', () => {
    const slug = slugify(`${'a'.repeat(62)} bcd`);
    expect(slug).toBe('a'.repeat(62));
    expect(slugify('word '.repeat(40)).length).toBeLessThanOrEqual(63);
    expect(slugify('word '.repeat(40))).toMatch(SLUG);
  });

  it('pads names that leave fewer than 3 characters', () => {
    expect(slugify('X')).toMatch(/^x-[a-z0-9]{4}$/);
    expect(slugify('株式会社')).toMatch(/^tenant-[a-z0-9]{4}$/);
    expect(slugify('!!!')).toMatch(/^tenant-[a-z0-9]{4}$/);
  });

  it('always answers a valid slug', () => {
    for (const name of ['a', '-a-', 'ab', 'Ω', '😀 party', 'x'.repeat(300), 'a-b', '  ', 'İstanbul']) {
      const slug = slugify(name);
      expect(slug, name).toMatch(SLUG);
      expect(slug.length, name).toBeGreaterThanOrEqual(3);
      expect(slug.length, name).toBeLessThanOrEqual(63);
    }
  });
});

describe('withRandomSuffix', () => {
  it('adds a 6-character suffix and stays within 63 characters', () => {
    expect(withRandomSuffix('acme')).toMatch(/^acme-[a-z0-9]{6}$/);
    const long = withRandomSuffix('a'.repeat(63));
    expect(long.length).toBe(63);
    expect(long).toMatch(SLUG);
    expect(withRandomSuffix(`${'a'.repeat(55)}-bbbbbbb`)).toMatch(SLUG);
  });
});
