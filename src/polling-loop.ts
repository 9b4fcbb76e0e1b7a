import type { Logger } from 'pino';

/** What one pass of an outbox did: how many went out, and whether a full batch suggests more. */
export interface PassResult {
  sent: number;
  full: boolean;
}

/**
 * The background loop of an outbox (email, webhooks): one pass at a time, every `pollMs`,
 * passes back to back while batches come back full, and a stop that waits for the pass
 * in flight. `stopping` tells that pass to hand back what it has not started.
 */
export function createPollingLoop(options: { batch: () => Promise<PassResult>; pollMs: number; logger: Logger; name: string }) {
  const { batch, pollMs, logger } = options;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<PassResult> | undefined;
  let stopped = true;
  let stopping = false;

  function pass(): Promise<PassResult> {
    running ??= batch().finally(() => {
      running = undefined;
    });
    return running;
  }

  function schedule(): void {
    if (stopped) return;
    const tick = async () => {
      try {
        // Drain quickly while there is work; otherwise wait for the next tick.
        while (!stopped && (await pass()).full);
      } catch (err) {
        logger.error({ err }, `${options.name} loop error`);
      }
      schedule();
    };
    timer = setTimeout(() => void tick(), pollMs);
    timer.unref();
  }

  return {
    /** True from stop() on. */
    stopping: () => stopping,
    /** One pass over due rows; returns how many went out. Safe to call while the loop runs. */
    async runOnce(): Promise<number> {
      return (await pass()).sent;
    },
    start(): void {
      if (!stopped) return;
      stopped = false;
      stopping = false;
      schedule();
    },
    /** Stops polling and waits for the pass in flight, so shutdown never cuts a send. */
    async stop(): Promise<void> {
      stopped = true;
      stopping = true;
      if (timer) clearTimeout(timer);
      // A pass that failed has been logged by the loop; shutdown goes on.
      await running?.catch(() => undefined);
    },
  };
}
