import type { Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { SignalError } from '../errors';
import type { ScaledPool } from '../types';
import type { Signal, SignalReading } from './signal';

const ACTIVITY = temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY;

/** The numbers DescribeTaskQueue reports for one queue, as plain numbers. */
export interface QueueStats {
  backlog: number;
  backlogAgeMs: number;
  addRate: number;
  dispatchRate: number;
}

/** Reads one activity queue's stats (server-cached for about 5 s). */
export async function describeQueueStats(client: Client, taskQueue: string): Promise<QueueStats> {
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: ACTIVITY,
    reportStats: true,
  });
  const s = r.stats;
  const count = s?.approximateBacklogCount;
  return {
    backlog: count == null ? 0 : typeof count === 'number' ? count : count.toNumber(),
    backlogAgeMs: optionalTsToMs(s?.approximateBacklogAge) ?? 0,
    addRate: s?.tasksAddRate ?? 0,
    dispatchRate: s?.tasksDispatchRate ?? 0,
  };
}

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
