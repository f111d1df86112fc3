import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunContext } from './adapter.js';
import { sleep } from './clock.js';
import type { FromWorker, ToWorker, WorkerArgs } from './protocol.js';

const WORKER_ENTRY = fileURLToPath(new URL('./worker-child.js', import.meta.url));
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

type Report = Extract<FromWorker, { type: 'report' }>;

/** Worker processes of one phase of a cell, driven over IPC. */
export class WorkerGroup {
  private readonly children: ChildProcess[] = [];
  private readonly executedByChild: number[] = [];
  private readonly reports: (Report | null)[] = [];
  private readyCount = 0;
  private startedCount = 0;
  private failure: string | null = null;
  /** Earliest handler start across the processes, epoch milliseconds. */
  firstStartAt: number | null = null;

  constructor(
    systemId: string,
    context: RunContext,
    concurrency: number,
    processes: number,
    cpuProfileDir: string | null,
  ) {
    const args: WorkerArgs = { systemId, context, concurrency };
    // Peers' dependencies print deprecation warnings that would bury the progress lines.
    const execArgv = ['--no-deprecation'];
    if (cpuProfileDir !== null) {
      execArgv.push('--cpu-prof', '--cpu-prof-dir', join(cpuProfileDir, systemId));
    }
    for (let index = 0; index < processes; index += 1) {
      const child = fork(WORKER_ENTRY, [JSON.stringify(args)], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        execArgv,
      });
      this.children.push(child);
      this.executedByChild.push(0);
      this.reports.push(null);
      child.on('message', (message: FromWorker) => this.receive(index, message));
      child.on('exit', (code, signal) => {
        if (this.reports[index] === null && this.failure === null) {
          this.failure = `worker process ${index} exited with code ${code} signal ${signal}`;
        }
      });
    }
  }

  private receive(index: number, message: FromWorker): void {
    switch (message.type) {
      case 'ready':
        this.readyCount += 1;
        break;
      case 'started':
        this.startedCount += 1;
        break;
      case 'first-start':
        if (this.firstStartAt === null || message.at < this.firstStartAt) {
          this.firstStartAt = message.at;
        }
        break;
      case 'progress':
        this.executedByChild[index] = message.executed;
        break;
      case 'failed':
        this.failure = `worker process ${index} failed: ${message.message}`;
        break;
      case 'report':
        this.executedByChild[index] = message.executed;
        this.reports[index] = message;
        break;
    }
  }

  /** Handler executions reported so far, summed over the processes. */
  get executed(): number {
    return this.executedByChild.reduce((sum, count) => sum + count, 0);
  }

  /** Throws the first failure a worker process reported, if any. */
  check(): void {
    if (this.failure !== null) throw new Error(this.failure);
  }

  private broadcast(message: ToWorker): void {
    for (const child of this.children) {
      if (child.connected) child.send(message);
    }
  }

  /**
   * Waits until every process has opened its client, then sends `start` to all of them at once.
   * With `waitForStarted`, also waits until every worker's start call has returned.
   */
  async start(waitForStarted: boolean): Promise<void> {
    await this.waitForCount(() => this.readyCount, 'ready');
    this.broadcast({ type: 'start' });
    if (waitForStarted) await this.waitForCount(() => this.startedCount, 'started');
  }

  private async waitForCount(count: () => number, state: string): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (count() < this.children.length) {
      this.check();
      if (Date.now() > deadline) {
        throw new Error(`worker processes not ${state} after ${READY_TIMEOUT_MS} ms`);
      }
      await sleep(2);
    }
  }

  /** Waits until the processes report at least `count` executions or the timeout passes. */
  async waitForExecuted(count: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.executed < count) {
      this.check();
      if (Date.now() > deadline) return false;
      await sleep(5);
    }
    return true;
  }

  /**
   * Stops every process and returns their reports, killing a process that does not report. With
   * `allowMissing`, a missing report is left out instead of raising an error.
   */
  async stop(allowMissing = false): Promise<Report[]> {
    this.broadcast({ type: 'stop' });
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (this.reports.some((report) => report === null)) {
      if (this.failure !== null || Date.now() > deadline) break;
      await sleep(5);
    }
    // A process exits by itself after its report; --cpu-prof writes the profile on that exit.
    while (this.children.some((child) => child.exitCode === null && child.signalCode === null)) {
      if (Date.now() > deadline) break;
      await sleep(5);
    }
    this.kill();
    this.check();
    const missing = this.reports.indexOf(null);
    if (missing >= 0 && !allowMissing) {
      throw new Error(`worker process ${missing} did not report within ${STOP_TIMEOUT_MS} ms`);
    }
    return this.reports.filter((report): report is Report => report !== null);
  }

  /** Kills every process without waiting for reports; for error paths. */
  kill(): void {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }
}
