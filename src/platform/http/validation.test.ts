import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { ListQuery } from './schemas.js';
import { validatorCompiler } from './validation.js';

const compile = validatorCompiler();
const validator = (schema: object, httpPart: string) =>
  compile({ schema, httpPart, method: 'POST', url: '/x' }) as ((data: unknown) => boolean) & {
    errors?: Array<{ instancePath: string; keyword: string }> | null;
  };

const Body = Type.Object(
  {
    email: Type.String({ format: 'email' }),
    count: Type.Optional(Type.Integer()),
    tags: Type.Optional(Type.Array(Type.String())),
    flag: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);

describe('validatorCompiler', () => {
  it('checks bodies as sent: no coercion', () => {
    const validate = validator(Body, 'body');
    expect(validate({ email: 'a@b.co', count: 3 })).toBe(true);
    expect(validate({ email: 'a@b.co', count: '3' })).toBe(false);
    expect(validate({ email: 'a@b.co', tags: 'one' })).toBe(false);
    expect(validate({ email: 'a@b.co', flag: 'true' })).toBe(false);
    expect(validate({ email: 12 })).toBe(false);
  });

  it('refuses unknown body fields instead of dropping them', () => {
    const validate = validator(Body, 'body');
    const body = { email: 'a@b.co', isSuperuser: true };
    expect(validate(body)).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({ keyword: 'additionalProperties' });
    expect(body.isSuperuser).toBe(true);
  });

  it('checks formats', () => {
    const validate = validator(Body, 'body');
    expect(validate({ email: 'not-an-email' })).toBe(false);
    expect(validator(Type.Object({ id: Type.String({ format: 'uuid' }) }), 'params')({ id: 'nope' })).toBe(
      false,
    );
  });

  it('fills defaults', () => {
    const body: Record<string, unknown> = { email: 'a@b.co' };
    expect(validator(Body, 'body')(body)).toBe(true);
    expect(body.flag).toBe(false);
  });

  it('coerces query strings and path parameters, which arrive as text', () => {
    const query: Record<string, unknown> = { limit: '50' };
    expect(validator(ListQuery, 'querystring')(query)).toBe(true);
    expect(query.limit).toBe(50);
    const defaulted: Record<string, unknown> = {};
    expect(validator(ListQuery, 'querystring')(defaulted)).toBe(true);
    expect(defaulted.limit).toBe(20);
    const params: Record<string, unknown> = { n: '7' };
    expect(validator(Type.Object({ n: Type.Integer() }), 'params')(params)).toBe(true);
    expect(params.n).toBe(7);
  });

  it('still refuses query values that are not what the schema says', () => {
    const validate = validator(ListQuery, 'querystring');
    for (const query of [{ limit: 'abc' }, { limit: '0' }, { limit: '101' }, { limit: '20', extra: 'x' }]) {
      expect(validate({ ...query })).toBe(false);
    }
  });
});
