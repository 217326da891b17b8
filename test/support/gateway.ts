import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');
export const OUTPUT_DIR = join(ROOT, 'test-output');
/** The build under test; OMNIGATE_BUILD_DIR points elsewhere when several builds share a checkout. */
export const BUILD_DIR = process.env.OMNIGATE_BUILD_DIR ?? join(ROOT, 'dist');
const MAIN = join(BUILD_DIR, 'src', 'main.js');
// kafkajs 2.2.4 schedules a negative timeout that Node 24 warns about; it is harmless noise.
export const NODE_FLAGS = ['--disable-warning=TimeoutNegativeWarning'];

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface ExitResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** The built gateway (`node dist/src/main.js`, the same start command the image uses) as a child process. */
export class GatewayProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<ExitResult> | undefined;
  stderr = '';
  readonly port: number;

  constructor(
    private readonly env: Record<string, string>,
    port: number,
    private readonly logName: string,
  ) {
    this.port = port;
  }

  static async start(env: Record<string, string>, logName: string): Promise<GatewayProcess> {
    const gateway = new GatewayProcess(env, await freePort(), logName);
    gateway.spawn();
    await gateway.waitUntilReady(60000);
    return gateway;
  }

  spawn(): void {
    mkdirSync(OUTPUT_DIR, { recursive: true });
    const log = createWriteStream(join(OUTPUT_DIR, `${this.logName}.log`), { flags: 'a' });
    const child = spawn(process.execPath, [...NODE_FLAGS, MAIN], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(this.port),
        LOG_LEVEL: 'info',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      log.write(chunk);
    });
    // 'exit' can come before the last output has been read, and a write to the log before it is
    // on disk: a test reading the log once the process is gone needs both ('close', then the flush).
    this.exited = new Promise((resolveExit) =>
      child.once('close', (code, signal) => log.end(() => resolveExit({ code, signal }))),
    );
    this.child = child;
  }

  async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exitedEarly = false;
    void this.exited?.then(() => (exitedEarly = true));
    // The last readiness answer names what is not ready (a consumer, a dependency).
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (exitedEarly) throw new Error(`gateway exited before it was ready: ${this.stderr}`);
      try {
        const response = await fetch(`http://127.0.0.1:${this.port}/health/ready`);
        if (response.status === 200) return;
        last = `${response.status} ${await response.text()}`;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`gateway not ready within ${timeoutMs} ms; last answer: ${last}`);
  }

  /** True while the process started last has not exited. */
  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /** The process id of the process started last, to tell a restart from the same process. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  kill(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  async waitForExit(timeoutMs: number): Promise<ExitResult> {
    if (!this.exited) throw new Error('not started');
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`gateway did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      ).unref(),
    );
    return Promise.race([this.exited, timeout]);
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.kill('SIGTERM');
    await this.waitForExit(30000).catch(() => this.kill('SIGKILL'));
  }
}

/** Runs the gateway with a given environment to completion, for start-up failures. */
export async function runToExit(
  env: Record<string, string>,
  timeoutMs: number,
): Promise<ExitResult & { stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, MAIN], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway still running after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    // 'close', not 'exit': only then has the last of stderr been read.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, stderr });
    });
  });
}
