import type { Client } from '@temporalio/client';
import { describeQueueStats } from '../../temporal/queue-stats';
import { SignalError } from '../errors';
import type { ScaledPool } from '../types';
import type { Signal, SignalReading } from './signal';

export { describeQueueStats, type QueueStats } from '../../temporal/queue-stats';

/** Backlog signal: each pool's activity queue backlog, its age, and add/dispatch rates. */
export function backlogSignal(client: Client): Signal {
  return {
    name: 'backlog',
    async read(pools: readonly ScaledPool[]): Promise<SignalReading> {
      const out: SignalReading = new Map();
      await Promise.all(
        pools.map(async (p) => {
          try {
            out.set(p.key, await describeQueueStats(client, p.taskQueue));
          } catch (err) {
            throw new SignalError('backlog', `describeTaskQueue ${p.taskQueue} failed: ${(err as Error).message}`, { cause: err });
          }
        }),
      );
      return out;
    },
  };
}
