import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { OutputValidationError, ValidationError } from '../src/errors.js';
import { checkSchema, compiledValidator } from '../src/internal/validation.js';

describe('checkSchema', () => {
  const schema = Type.Object(
    {
      name: Type.String(),
      age: Type.Integer({ minimum: 0 }),
      tags: Type.Array(Type.String()),
      address: Type.Object({ city: Type.String(), 'zip/code': Type.String() }),
      id: Type.Union([Type.String(), Type.Number()]),
    },
    { additionalProperties: false },
  );

  it('returns no issues for a matching value', () => {
    const value = { name: 'a', age: 1, tags: [], address: { city: 'x', 'zip/code': '1' }, id: 1 };
    expect(checkSchema(schema, value)).toEqual([]);
  });

  it('lists every failing path', () => {
    const issues = checkSchema(schema, {
      age: -2.5,
      tags: ['ok', 3, null],
      address: { city: 1 },
      id: true,
      extra: 1,
    });
    expect(issues).toEqual([
      { path: '/name', message: 'is required' },
      { path: '/extra', message: 'is not an allowed property' },
      { path: '/age', message: 'must be integer' },
      { path: '/age', message: 'must be >= 0' },
      { path: '/tags/1', message: 'must be string' },
      { path: '/tags/2', message: 'must be string' },
      { path: '/address/zip~1code', message: 'is required' },
      { path: '/address/city', message: 'must be string' },
      { path: '/id', message: 'must match a schema in anyOf: must be string, or must be number' },
    ]);
  });

  it('reports a wrong root type at the root path', () => {
    expect(checkSchema(schema, 'text')).toEqual([{ path: '', message: 'must be object' }]);
  });

  it('compiles each schema once', () => {
    const once = Type.Object({ a: Type.String() });
    expect(compiledValidator(once)).toBe(compiledValidator(once));
  });
});

describe('validation error messages', () => {
  const issues = [
    { path: '/a', message: 'is required' },
    { path: '', message: 'must be object' },
  ];

  it('input errors list each issue and the fix', () => {
    expect(new ValidationError('send', issues).message).toBe(
      'Invalid input for job "send": 2 schema violation(s)\n' +
        '  - /a: is required\n' +
        '  - (root): must be object\n' +
        "Fix the input to match the job's input schema.",
    );
  });

  it('output errors name the handler as the fix', () => {
    const error = new OutputValidationError('send', issues);
    expect(error.code).toBe('OUTPUT_INVALID');
    expect(error.message).toContain(
      'Fix the handler to return a value matching the output schema.',
    );
  });
});
