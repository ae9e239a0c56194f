import { describe, expect, it } from 'vitest';
import { idMillisecond } from '../../test/ids.js';
import { idAt, isUuid, nextId, uuidv7 } from './ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('is a lower-case RFC 9562 version 7, variant 10 UUID', () => {
    for (let i = 0; i < 200; i++) expect(uuidv7()).toMatch(UUID_V7);
  });

  it('carries the millisecond timestamp in its first 48 bits', () => {
    const now = Date.UTC(2026, 10, 25, 10, 0, 0, 123);
    const id = uuidv7(now);
    expect(idMillisecond(id)).toBe(now);
    expect(uuidv7(0).startsWith('00000000-0000-7')).toBe(true);
    expect(uuidv7(2 ** 48 - 1).startsWith('ffffffff-ffff-7')).toBe(true);
  });

  it('sorts by creation time, as text and as bytes', () => {
    const ids = [5, 1_000, 1_001, 1_700_000_000_000, 1_700_000_000_001, 2 ** 47].map((ms) => uuidv7(ms));
    expect([...ids].sort()).toEqual(ids);
    expect([...ids].reverse().sort()).toEqual(ids);
  });

  it('is unique within one millisecond', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => uuidv7(1_700_000_000_000)));
    expect(ids.size).toBe(10_000);
  });
});

describe('isUuid', () => {
  it('accepts UUIDs of any version and case', () => {
    expect(isUuid(uuidv7())).toBe(true);
    expect(isUuid('123e4567-e89b-12d3-a456-426614174000')).toBe(true);
    expect(isUuid('123E4567-E89B-12D3-A456-426614174000')).toBe(true);
  });

  it.each([
    '',
    'not-a-uuid',
    '123e4567e89b12d3a456426614174000',
    '123e4567-e89b-12d3-a456-42661417400',
    '123e4567-e89b-12d3-a456-4266141740000',
    '123e4567-e89b-12d3-a456-42661417400g',
    ' 123e4567-e89b-12d3-a456-426614174000',
    '123e4567-e89b-12d3-a456-426614174000\n',
    "123e4567-e89b-12d3-a456-426614174000' or 1=1 --",
  ])('refuses %j', (value) => {
    expect(isUuid(value)).toBe(false);
  });
});

describe('idAt', () => {
  it('carries the millisecond it is given, whatever the wall clock says', () => {
    const at = new Date('2031-05-06T07:08:09.123Z');
    const id = idAt(at);
    expect(id).toMatch(UUID_V7);
    expect(idMillisecond(id)).toBe(at.getTime());
  });

  it('gives rows made in one millisecond increasing ids, in the order they were made', () => {
    const at = new Date('2031-05-06T07:08:09.456Z');
    const ids = Array.from({ length: 50 }, () => idAt(at));
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(50);
    for (const id of ids) expect(idMillisecond(id)).toBe(at.getTime());
  });

  it('starts afresh on another millisecond, even an earlier one', () => {
    const later = idAt(new Date('2031-05-06T07:08:10.000Z'));
    const earlier = idAt(new Date('2031-05-06T07:08:09.000Z'));
    expect(idMillisecond(earlier)).toBe(Date.parse('2031-05-06T07:08:09.000Z'));
    expect(earlier < later).toBe(true);
  });
});

describe('nextId', () => {
  it('keeps a candidate that sorts after the previous id, and otherwise adds one to the previous', () => {
    const previous = '01890a5d-ac96-7abc-8def-0123456789ff';
    expect(nextId('01890a5d-ac97-7000-8000-000000000000', previous)).toBe(
      '01890a5d-ac97-7000-8000-000000000000',
    );
    expect(nextId('01890a5d-ac95-7000-8000-000000000000', previous)).toBe(
      '01890a5d-ac96-7abc-8def-012345678a00',
    );
    expect(nextId(previous, null)).toBe(previous);
  });
});
