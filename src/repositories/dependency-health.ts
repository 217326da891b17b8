import type { OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { messageOf } from './database/errors';

/** One outside system the service cannot work without, and a cheap question it must answer. */
export interface DependencyProbe {
  /** As shown in /health/ready and the logs: `postgresql`, `redis`. */
  readonly name: string;
  check(): Promise<void>;
}

/** `up`, or why the last probe failed and since when. */
export type DependencyStatus =
  | { readonly state: 'up' }
  | { readonly state: 'down'; readonly since: string; readonly error: string };

/** The part of the pino logger this class uses, so tests can pass a recorder. */
export interface DependencyHealthLogger {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface DependencyHealthOptions {
  /** How often every dependency is asked while the service runs. */
  readonly intervalMs: number;
  /** A probe without an answer after this long counts as down. */
  readonly timeoutMs: number;
}

export const DEFAULT_DEPENDENCY_HEALTH: DependencyHealthOptions = {
  intervalMs: 1_000,
  timeoutMs: 1_000,
};

/**
 * Asks PostgreSQL and Redis (when configured) every second whether they answer. Readiness reads
 * the last answers without waiting, so a Kubernetes probe never hangs on a silent dependency; the
 * consumers ask for a fresh round while they wait out an outage. Each change is logged once.
 */
export class DependencyHealth implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly current = new Map<string, DependencyStatus>();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<boolean> | undefined;

  constructor(
    private readonly probes: readonly DependencyProbe[],
    private readonly logger: DependencyHealthLogger,
    private readonly options: DependencyHealthOptions = DEFAULT_DEPENDENCY_HEALTH,
    private readonly now: () => Date = () => new Date(),
  ) {
    for (const probe of probes) this.current.set(probe.name, { state: 'up' });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.probe(), this.options.intervalMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** True when every dependency answered its last probe. */
  get allUp(): boolean {
    return [...this.current.values()].every((status) => status.state === 'up');
  }

  get statuses(): Readonly<Record<string, DependencyStatus>> {
    return Object.fromEntries(this.current);
  }

  /** Asks every dependency now (joining a round already running); true when all answered. */
  probe(): Promise<boolean> {
    this.round ??= this.runRound().finally(() => (this.round = undefined));
    return this.round;
  }

  private async runRound(): Promise<boolean> {
    const results = await Promise.all(
      this.probes.map(async (probe) => ({ probe, error: await this.ask(probe) })),
    );
    for (const { probe, error } of results) this.record(probe.name, error);
    return this.allUp;
  }

  /** Undefined when the dependency answered in time, else why not. */
  private async ask(probe: DependencyProbe): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(
        () => resolve(`no answer within ${this.options.timeoutMs} ms`),
        this.options.timeoutMs,
      );
    });
    try {
      return await Promise.race([
        probe.check().then(
          () => undefined,
          (error: unknown) => messageOf(error),
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private record(name: string, error: string | undefined): void {
    const before = this.current.get(name);
    if (error === undefined) {
      if (before?.state === 'down') {
        const downMs = this.now().getTime() - Date.parse(before.since);
        this.logger.info({ dependency: name, downMs }, `${name} answers again`);
      }
      this.current.set(name, { state: 'up' });
      return;
    }
    if (before?.state === 'down') {
      this.current.set(name, { ...before, error });
      return;
    }
    this.current.set(name, { state: 'down', since: this.now().toISOString(), error });
    this.logger.error(
      { dependency: name, error },
      `${name} is unreachable: not ready, and the consumers pause until it answers`,
    );
  }
}
