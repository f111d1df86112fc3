import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { defineJob, type ZapJobs } from '@zapjobs/core';
import { Type } from 'typebox';

/** Thrown on purpose by a share of attempts, to show retries. */
export class InjectedFailure extends Error {
  constructor(path: string) {
    super(`injected transient failure while indexing ${path} (--fail-rate)`);
    this.name = 'InjectedFailure';
  }
}

export const indexFile = defineJob({
  name: 'index-file',
  input: Type.Object({
    path: Type.String({ minLength: 1 }),
    failRate: Type.Number({ minimum: 0, maximum: 1 }),
  }),
  output: Type.Object({
    path: Type.String(),
    sizeBytes: Type.Integer({ minimum: 0 }),
    lines: Type.Integer({ minimum: 0 }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  }),
  defaults: {
    queue: 'files',
    attempts: 3,
    backoff: { type: 'exponential', delayMs: 50, maxDelayMs: 1_000 },
    timeoutMs: 30_000,
  },
  handler: async (input) => {
    if (Math.random() < input.failRate) throw new InjectedFailure(input.path);

    const content = await readFile(input.path);
    return {
      path: input.path,
      sizeBytes: content.byteLength,
      lines: countLines(content),
      sha256: createHash('sha256').update(content).digest('hex'),
    };
  },
});

/** Counts lines the way `wc -l` does, plus a last line that lacks its newline. */
export function countLines(content: Buffer): number {
  let lines = 0;
  let index = content.indexOf(10);
  while (index !== -1) {
    lines++;
    index = content.indexOf(10, index + 1);
  }
  const endsWithNewline = content.byteLength > 0 && content[content.byteLength - 1] === 10;
  return content.byteLength > 0 && !endsWithNewline ? lines + 1 : lines;
}

const reportInput = Type.Object({
  groupId: Type.String({ minLength: 1 }),
  reportPath: Type.String({ minLength: 1 }),
});

const reportOutput = Type.Object({
  files: Type.Integer({ minimum: 0 }),
  failedFiles: Type.Integer({ minimum: 0 }),
  totalBytes: Type.Integer({ minimum: 0 }),
  totalLines: Type.Integer({ minimum: 0 }),
});

/**
 * Defines the fan-in job that writes the summary report once every file run has finished.
 * It reads the file runs' outputs through the client, so it takes a getter for it.
 */
export function defineReportJob(getClient: () => Pick<ZapJobs, 'listRuns'>) {
  return defineJob({
    name: 'write-report',
    input: reportInput,
    output: reportOutput,
    defaults: { queue: 'reports', attempts: 3, timeoutMs: 120_000 },
    handler: async (input, ctx) => {
      const client = getClient();
      const largest: Array<{ path: string; sizeBytes: number }> = [];
      const byExtension = new Map<string, number>();
      let files = 0;
      let failedFiles = 0;
      let totalBytes = 0;
      let totalLines = 0;

      let cursor: string | undefined;
      do {
        const page = await client.listRuns({ groupId: input.groupId, limit: 1_000, cursor });
        for (const run of page.runs) {
          if (run.state !== 'completed') {
            failedFiles++;
            continue;
          }
          const output = run.output as { path: string; sizeBytes: number; lines: number };
          files++;
          totalBytes += output.sizeBytes;
          totalLines += output.lines;
          const extension = output.path.match(/\.([A-Za-z0-9]{1,8})$/)?.[1] ?? '(none)';
          byExtension.set(extension, (byExtension.get(extension) ?? 0) + 1);
          largest.push({ path: output.path, sizeBytes: output.sizeBytes });
          largest.sort((a, b) => b.sizeBytes - a.sizeBytes);
          largest.length = Math.min(largest.length, 10);
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);

      const summary = { files, failedFiles, totalBytes, totalLines };
      const topExtensions = [...byExtension.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15);
      const report = { ...summary, largest, topExtensions: Object.fromEntries(topExtensions) };
      await mkdir(dirname(input.reportPath), { recursive: true });
      await writeFile(input.reportPath, `${JSON.stringify(report, null, 2)}\n`);
      ctx.logger.info({ reportPath: input.reportPath, files }, 'report written');
      return summary;
    },
  });
}
