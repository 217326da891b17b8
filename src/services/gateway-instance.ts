import { randomUUID } from 'node:crypto';
import type { Logger } from '../observability/logger';
import type { InstanceRepository } from '../repositories/instance.repository';

/**
 * This process as one gateway instance: the owner name on the messages it works on, kept alive by
 * a heartbeat. Registered before any consumer or worker starts (it is built by an async factory
 * they depend on) and deregistered by the shutdown sequence after they drained, so its messages
 * are free at once.
 */
export class GatewayInstance {
  readonly id = `gw-${randomUUID()}`;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly instances: InstanceRepository,
    private readonly logger: Logger,
  ) {}

  static async start(
    instances: InstanceRepository,
    logger: Logger,
    staleAfterMs: number,
  ): Promise<GatewayInstance> {
    const instance = new GatewayInstance(instances, logger);
    await instances.register(instance.id);
    // Four beats per staleness window: one slow beat never makes a live instance look dead.
    instance.timer = setInterval(() => instance.beat(), Math.floor(staleAfterMs / 4));
    instance.timer.unref();
    logger.info({ instance: instance.id }, 'gateway instance registered');
    return instance;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.instances.deregister(this.id);
  }

  private beat(): void {
    this.instances
      .heartbeat(this.id)
      .then(async (found) => {
        // Removed while alive (an operator cleaned up): come back, or peers would take our work.
        if (!found) await this.instances.register(this.id);
      })
      .catch((error: unknown) => {
        this.logger.warn(
          { instance: this.id, error: error instanceof Error ? error.message : String(error) },
          'instance heartbeat failed',
        );
      });
  }
}
