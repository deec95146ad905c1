import type { Client } from '@temporalio/client';
import { visibilityQuery } from '../../config/visibility';
import { SignalError } from '../errors';
import type { ScaledPool } from '../types';
import type { Signal, SignalReading } from './signal';

/** Visibility query for the tasks of a pool (of the app on `controlQueue`) whose handler is running now. */
export function inFlightQuery(p: ScaledPool, controlQueue?: string): string {
  return visibilityQuery(
    { status: 'running', group: p.group, lane: p.lane },
    { running: true, tasksOnly: true, ...(controlQueue ? { controlQueue } : {}) },
  );
}

/**
 * In-flight signal: how many tasks of each pool are running a handler, counted from the
 * `TaskStatus` search attribute the task workflow keeps (one count query per pool; visibility lags
 * by a moment, which a 15 s decision loop does not notice).
 */
export function inFlightSignal(client: Client, controlQueue?: string): Signal {
  return {
    name: 'in-flight',
    async read(pools: readonly ScaledPool[]): Promise<SignalReading> {
      const out: SignalReading = new Map();
      await Promise.all(
        pools.map(async (p) => {
          try {
            const r = await client.workflowService.countWorkflowExecutions({
              namespace: client.options.namespace,
              query: inFlightQuery(p, controlQueue),
            });
            const c = r.count;
            out.set(p.key, { inFlight: c == null ? 0 : typeof c === 'number' ? c : c.toNumber() });
          } catch (err) {
            throw new SignalError('in-flight', `count for ${p.key} failed: ${(err as Error).message}`, { cause: err });
          }
        }),
      );
      return out;
    },
  };
}
