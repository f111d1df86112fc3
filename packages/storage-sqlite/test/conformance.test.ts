import { fileURLToPath } from 'node:url';
import { runConformanceSuite } from '@zapjobs/core/testing';
import { createTempStorage, openStorage, removeTempDir } from './helpers.js';

runConformanceSuite({
  name: 'sqlite',
  create: createTempStorage,
  open: openStorage,
  openModule: fileURLToPath(new URL('./fixtures/open.mjs', import.meta.url)),
  destroy: async (descriptor) => removeTempDir(descriptor),
});
