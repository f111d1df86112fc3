import { fileURLToPath } from 'node:url';
import { runConformanceSuite } from '@zapjobs/core/testing';
import { it } from 'vitest';
import { createSchemaStorage, dropSchema, openStorage, requirePostgres } from './helpers.js';

if (await requirePostgres()) {
  runConformanceSuite({
    name: 'postgres',
    create: createSchemaStorage,
    open: async (descriptor) => openStorage(descriptor),
    openModule: fileURLToPath(new URL('./fixtures/open.mjs', import.meta.url)),
    destroy: dropSchema,
  });
} else {
  it.skip('conformance suite: PostgreSQL is unreachable, see the notice above', () => {});
}
