import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Logger, ZapJobs } from '@zapjobs/core';
import { SqliteStorage } from '@zapjobs/storage-sqlite';
import { defineReportJob, indexFile } from './jobs.js';

/**
 * Returns a logger that appends one JSON line per entry to `path`, so the progress bar stays
 * readable while retries are logged in full.
 */
export function fileLogger(path: string, bindings: Record<string, unknown> = {}): Logger {
  const write = (level: string) => (fields: Record<string, unknown>, message: string) => {
    const line = { time: new Date().toISOString(), level, ...bindings, ...fields, message };
    appendFileSync(path, `${JSON.stringify(line, errorReplacer)}\n`);
  };
  return {
    debug: () => {},
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more) => fileLogger(path, { ...bindings, ...more }),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  return value instanceof Error ? { name: value.name, message: value.message } : value;
}

/** Opens the shared SQLite file and a client that knows the quick start's jobs. */
export function openClient(dbPath: string, logPath: string) {
  mkdirSync(dirname(dbPath), { recursive: true });
  const storage = new SqliteStorage({ path: dbPath });
  const reportJob = defineReportJob(() => client);
  const client = new ZapJobs({
    storage,
    jobs: [indexFile, reportJob],
    logger: fileLogger(logPath, { pid: process.pid }),
  });
  return client;
}

export const workerQueues = ['reports', 'files'];
