import { InvalidOptionError } from '@zapjobs/core/storage';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { dropSchema, PG_URL, randomSchema, requirePostgres } from './helpers.js';

const reachable = await requirePostgres();

describe.skipIf(!reachable)('migrations', () => {
  const schemas: string[] = [];

  afterEach(async () => {
    for (const schema of schemas.splice(0)) await dropSchema({ connectionString: PG_URL, schema });
  });

  it('five pools migrate concurrently', async () => {
    const schema = randomSchema();
    schemas.push(schema);
    const storages = Array.from(
      { length: 5 },
      () => new PostgresStorage({ connectionString: PG_URL, schema, poolSize: 2 }),
    );
    try {
      await Promise.all(storages.map((storage) => storage.migrate()));
      // A second round finds nothing left to do.
      await Promise.all(storages.map((storage) => storage.migrate()));

      const { rows } = await storages[0]!.pool.query<{ version: number }>(
        `select version from "${schema}".migrations order by version`,
      );
      const versions = rows.map((row) => row.version);
      expect(versions.length).toBeGreaterThan(0);
      expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1));

      // Each of the five storages works on the shared schema.
      for (const storage of storages) expect(typeof (await storage.now())).toBe('number');
    } finally {
      await Promise.all(storages.map((storage) => storage.close()));
    }
  });

  it('five processes migrate concurrently', async () => {
    const schema = randomSchema();
    schemas.push(schema);
    const { spawn } = await import('node:child_process');
    const script = `
      import { PostgresStorage } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      const storage = new PostgresStorage({ connectionString: process.argv[1], schema: process.argv[2], poolSize: 1 });
      await storage.migrate();
      await storage.close();
    `;
    const exits = await Promise.all(
      Array.from(
        { length: 5 },
        () =>
          new Promise<{ code: number | null; stderr: string }>((resolve) => {
            const child = spawn(
              process.execPath,
              ['--input-type=module', '-e', script, PG_URL, schema],
              { stdio: ['ignore', 'ignore', 'pipe'] },
            );
            let stderr = '';
            child.stderr.on('data', (chunk: Buffer) => {
              stderr += chunk.toString();
            });
            child.on('exit', (code) => resolve({ code, stderr }));
          }),
      ),
    );
    for (const exit of exits) expect(exit).toEqual({ code: 0, stderr: '' });

    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const { rows } = await client.query(
        `select version, count(*)::int as n from "${schema}".migrations group by version`,
      );
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) expect(row.n).toBe(1);
    } finally {
      await client.end();
    }
  });

  it('schema names are validated', () => {
    for (const schema of ['bad-name', 'x; drop table t', '1abc', '', 'a'.repeat(56), 'zj"x']) {
      expect(() => new PostgresStorage({ connectionString: PG_URL, schema })).toThrow(
        InvalidOptionError,
      );
    }
    expect(() => new PostgresStorage({ connectionString: PG_URL, schema: 'bad-name' })).toThrow(
      /Invalid option schema: "bad-name".*letters, digits and underscores/,
    );
  });

  it('mixed-case schema name works', async () => {
    const schema = `Zj_Mixed_${randomSchema('')}`;
    schemas.push(schema);
    const storage = new PostgresStorage({ connectionString: PG_URL, schema, poolSize: 2 });
    try {
      await storage.migrate();
      expect(await storage.insertRuns([])).toEqual([]);
      expect((await storage.countRuns({})).available).toBe(0);
    } finally {
      await storage.close();
    }
  });

  it('invalid options name the option', () => {
    expect(() => new PostgresStorage({ connectionString: PG_URL, poolSize: 0 })).toThrow(
      /Invalid option poolSize: 0/,
    );
    const pool = new pg.Pool({ connectionString: PG_URL });
    expect(() => new PostgresStorage({ connectionString: PG_URL, pool })).toThrow(
      /either connectionString or pool/,
    );
    void pool.end();
  });
});

if (!reachable) {
  it.skip('migrations: PostgreSQL is unreachable, see the notice above', () => {});
}
