import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

// Dependencies of a test's own, on ports of their own, that the test may stop and start again.
// The shared services (PostgreSQL on 5432, Redis on 6379, Kafka on 9092) are never touched.

const run = promisify(execFile);

export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitForPort(port: number, open: boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while ((await accepts(port)) !== open) {
    if (Date.now() > deadline)
      throw new Error(`${what} did not ${open ? 'open' : 'close'} ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A redis-server child process without persistence: a restart starts empty, as after a crash. */
export class OwnRedis {
  private child: ChildProcess | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitForPort(this.port, true, 'redis-server');
  }

  /** SIGKILL: the connection drops at once, as when a node dies. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * A PostgreSQL cluster in a temporary directory, run as the postgres user (the server refuses
 * root), trust authentication, listening on its own port and socket directory.
 */
export class OwnPostgres {
  private readonly dir: string;
  private readonly bin = '/usr/lib/postgresql/15/bin';

  constructor(readonly port: number) {
    this.dir = mkdtempSync('/tmp/omnigate-pg-');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private asPostgres(command: string, args: string[]): Promise<unknown> {
    const asRoot = process.getuid?.() === 0;
    return asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(this.bin, command), ...args])
      : run(join(this.bin, command), args);
  }

  async init(): Promise<void> {
    if (process.getuid?.() === 0) await run('chown', ['postgres:postgres', this.dir]);
    await this.asPostgres('initdb', [
      '-D',
      join(this.dir, 'data'),
      '-U',
      'postgres',
      '--auth=trust',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
  }

  async start(): Promise<void> {
    await this.asPostgres('pg_ctl', [
      '-D',
      join(this.dir, 'data'),
      '-l',
      join(this.dir, 'server.log'),
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      '-w',
      'start',
    ]);
  }

  /** Immediate mode: connections are cut without a goodbye, as when the server crashes. */
  async stop(): Promise<void> {
    await this.asPostgres('pg_ctl', [
      '-D',
      join(this.dir, 'data'),
      '-m',
      'immediate',
      '-w',
      'stop',
    ]);
    await waitForPort(this.port, false, 'PostgreSQL');
  }

  async dispose(): Promise<void> {
    await this.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const KAFKA_SCRIPT = join(__dirname, '..', '..', 'scripts', 'kafka.sh');
const CACHE_ROOT =
  process.env.OMNIGATE_CACHE_DIR ?? join(process.env.HOME ?? '/tmp', '.cache', 'omnigate');

/**
 * A second broker started by scripts/kafka.sh on ports of its own. The script's start wipes the
 * data (a fresh cluster each time), so the outage restarts the same JVM command on the same run
 * directory instead: topics, records and committed offsets survive, as for a real broker restart.
 */
export class OwnBroker {
  private restarted: ChildProcess | undefined;

  constructor(
    readonly port: number,
    private readonly controllerPort: number,
  ) {}

  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  private get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      KAFKA_PORT: String(this.port),
      KAFKA_CONTROLLER_PORT: String(this.controllerPort),
    };
  }

  private get runDir(): string {
    return join(CACHE_ROOT, 'kafka-3.9.1', `run-${this.port}`);
  }

  async start(): Promise<void> {
    await run('bash', [KAFKA_SCRIPT, 'start'], { env: this.env, timeout: 120_000 });
  }

  /** The JVM's command line as the script started it, read back from /proc. */
  private commandLine(pid: number): string[] {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  }

  private pid(): number {
    return Number(readFileSync(join(this.runDir, 'kafka.pid'), 'utf8').trim());
  }

  private argv: string[] | undefined;

  /** SIGKILL the broker: its clients see connections refused until it is back. */
  async stop(): Promise<void> {
    if (this.restarted) {
      const child = this.restarted;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      this.restarted = undefined;
    } else {
      const pid = this.pid();
      this.argv = this.commandLine(pid);
      process.kill(pid, 'SIGKILL');
    }
    await waitForPort(this.port, false, 'the broker');
  }

  /** The same JVM on the same data directory. Resolves once the broker port accepts. */
  async restart(): Promise<void> {
    const [java, ...args] = this.argv ?? [];
    if (!java) throw new Error('stop() the broker before restarting it');
    this.restarted = spawn(java, args, { stdio: 'ignore' });
    await waitForPort(this.port, true, 'the restarted broker', 60_000);
  }

  async dispose(): Promise<void> {
    if (this.restarted) await this.stop().catch(() => undefined);
    else await run('bash', [KAFKA_SCRIPT, 'stop'], { env: this.env }).catch(() => undefined);
  }
}
