import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booleanArray, textArray } from '../src/internal/rows.js';
import { PG_URL, requirePostgres } from './helpers.js';

const reachable = await requirePostgres();

describe.skipIf(!reachable)('text array parameters', () => {
  let client: pg.Client;

  beforeAll(async () => {
    client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
  });

  afterAll(async () => {
    await client.end();
  });

  it('round-trip every element unchanged', async () => {
    const values = [
      '',
      'NULL',
      'null',
      ' padded ',
      'a,b',
      '{braces}',
      'say "hi"',
      'back\\slash',
      '\\"',
      '"',
      '\\',
      'tab\there\nnewline',
      '{"output":["x",1,null]}',
      'ünïcødé 😀',
      '0190b7d2-6f1a-7c3e-9a4b-1c2d3e4f5a6b.17',
    ];
    const { rows } = await client.query<{ values: string[]; nulls: number }>(
      'select $1::text[] as values, cardinality(array_positions($1::text[], null)) as nulls',
      [textArray(values)],
    );
    expect(rows[0]!.values).toEqual(values);
    expect(rows[0]!.nulls).toBe(0);
  });

  it('round-trip elements without quotes or backslashes', async () => {
    const values = ['', 'NULL', ' padded ', 'a,b', '{braces}', 'ünïcødé 😀', 'tab\there'];
    const { rows } = await client.query<{ values: string[] }>('select $1::text[] as values', [
      textArray(values),
    ]);
    expect(rows[0]!.values).toEqual(values);
  });

  it('round-trip booleans', async () => {
    const values = [true, false, false, true];
    const { rows } = await client.query<{ values: boolean[]; empty: boolean[] }>(
      'select $1::boolean[] as values, $2::boolean[] as empty',
      [booleanArray(values), booleanArray([])],
    );
    expect(rows[0]!.values).toEqual(values);
    expect(rows[0]!.empty).toEqual([]);
  });

  it('encode an empty list as an empty array', async () => {
    const { rows } = await client.query<{ length: number }>(
      'select coalesce(array_length($1::text[], 1), 0) as length',
      [textArray([])],
    );
    expect(rows[0]!.length).toBe(0);
  });
});

if (!reachable) {
  it.skip('text array parameters: PostgreSQL is unreachable, see the notice above', () => {});
}
