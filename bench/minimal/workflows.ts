import { proxyActivities } from '@temporalio/workflow';
import type * as activities from './activities';
import { MINIMAL_ACTIVITY_QUEUE } from './names';

const { echo } = proxyActivities<typeof activities>({ taskQueue: MINIMAL_ACTIVITY_QUEUE, startToCloseTimeout: '30s' });

/**
 * The least a Temporal task system does for one task: a workflow that runs one activity on another
 * queue and returns its result. bench:lifecycle's floor; not product code.
 */
export async function minimalTask(input: unknown): Promise<unknown> {
  return echo(input);
}
