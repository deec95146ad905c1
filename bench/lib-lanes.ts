import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { Lane } from '../config/names';
import { visibilityQuery } from '../config/visibility';
import { mapLimit, quantile, type BenchStack } from './lib-stack';

/** One line of the demo handlers' ledger (TIDEWAY_DEMO_LEDGER): a handler run began at `at`. */
export interface LedgerEntry {
  taskId: string;
  attempt: number;
  at: number;
}

/** First-attempt handler starts by task ID, optionally only the IDs starting with `prefix`. */
export function readLedger(file: string, prefix = ''): Map<string, LedgerEntry> {
  const m = new Map<string, LedgerEntry>();
  if (!existsSync(file)) return m;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line || !line.includes(`"taskId":"${prefix}`)) continue;
    const e = JSON.parse(line) as LedgerEntry;
    if (e.attempt === 1) m.set(e.taskId, e);
  }
  return m;
}

/** A high-lane task the bench submitted, and when. */
export interface HighSample {
  id: string;
  submittedAt: number;
}

/** Submits high-lane demo.sleep tasks at `rps` for `seconds`; resolves once all were submitted. */
export async function highLane(
  stack: BenchStack,
  opts: { tag: string; seconds: number; rps: number; sleepMs: number },
): Promise<HighSample[]> {
  const out: HighSample[] = [];
  const n = Math.round(opts.seconds * opts.rps);
  const t0 = Date.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    await sleep(Math.max(0, t0 + (i * 1000) / opts.rps - Date.now()));
    const id = `${opts.tag}-${i}`;
    out.push({ id, submittedAt: Date.now() });
    pending.push(stack.client.submit('demo.sleep', { ms: opts.sleepMs }, { taskId: id, lane: 'high', tenant: 'interactive' }));
  }
  await Promise.all(pending);
  return out;
}

/** Queue wait (submit → handler start, from the ledger) of each sample, in submit order. */
export interface Wait {
  id: string;
  submittedAt: number;
  ms: number;
}

/** Waits until every sample has finished, then reads their queue waits from the ledger. */
export async function queueWaits(stack: BenchStack, samples: HighSample[], prefix: string): Promise<Wait[]> {
  await mapLimit(samples, 32, (s) => stack.client.result(s.id));
  const l = readLedger(stack.ledger, prefix);
  return samples.flatMap((s) => {
    const e = l.get(s.id);
    return e ? [{ id: s.id, submittedAt: s.submittedAt, ms: e.at - s.submittedAt }] : [];
  });
}

/** p50/p99 of a list of waits. */
export function p(ws: readonly Wait[], q: number): number {
  return quantile(
    ws.map((w) => w.ms),
    q,
  );
}

/**
 * The hops of one sample's queue wait, from its workflow history: the start RPC, the first
 * workflow task's wait for a control poller, its run, the activity's wait in the pool queue.
 */
export async function hops(stack: BenchStack, w: Wait): Promise<[string, number][]> {
  const h = await stack.temporal.workflow.getHandle(w.id).fetchHistory();
  const events = h.events ?? [];
  const t = (pred: (e: temporal.api.history.v1.IHistoryEvent) => boolean) => {
    const e = events.find(pred);
    return e?.eventTime ? tsToMs(e.eventTime) : NaN;
  };
  const started = t((e) => !!e.workflowExecutionStartedEventAttributes);
  const wftScheduled = t((e) => !!e.workflowTaskScheduledEventAttributes);
  const wftStarted = t((e) => !!e.workflowTaskStartedEventAttributes);
  const wftCompleted = t((e) => !!e.workflowTaskCompletedEventAttributes);
  const actScheduled = t((e) => !!e.activityTaskScheduledEventAttributes);
  return [
    ['start rpc', started - w.submittedAt],
    ['wft wait', wftStarted - wftScheduled],
    ['wft run', wftCompleted - wftStarted],
    ['to activity', actScheduled - wftCompleted],
    ['pool queue', w.submittedAt + w.ms - actScheduled],
  ];
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Tasks of `tenant` (in `lane`) that completed in [from, to): runTask workflows closed as Completed,
 * counted in visibility by their CloseTime (server clock, same machine).
 */
export async function completedBetween(stack: BenchStack, tenant: string, lane: Lane, from: number, to: number): Promise<number> {
  const q =
    `${visibilityQuery({ tenant, lane })} AND ExecutionStatus="Completed"` +
    ` AND CloseTime >= "${iso(from)}" AND CloseTime < "${iso(to)}"`;
  return (await stack.temporal.workflow.count(q)).count;
}

/** Completions of `tenant` per `windowMs` window from `from` (only whole windows before `to`). */
export async function completionWindows(
  stack: BenchStack,
  tenant: string,
  lane: Lane,
  from: number,
  to: number,
  windowMs = 10_000,
): Promise<number[]> {
  const starts: number[] = [];
  for (let t = from; t + windowMs <= to; t += windowMs) starts.push(t);
  return mapLimit(starts, 4, (t) => completedBetween(stack, tenant, lane, t, t + windowMs));
}

/** Open runTask workflows of `tenant`. */
export async function runningCount(stack: BenchStack, tenant: string): Promise<number> {
  return (await stack.temporal.workflow.count(visibilityQuery({ tenant }, { running: true }))).count;
}

/**
 * Leaves nothing of a flood behind for the next condition: cancels its bulks (no further starts),
 * waits until the intake says so, then terminates every task of its tenants still open (faster on
 * a single-shard server than cancelling thousands: no workflow task each), until visibility shows
 * none. Returns how many it terminated.
 */
export async function drainFlood(
  stack: BenchStack,
  bulkIds: readonly string[],
  tenants: readonly string[],
  timeoutMs = 10 * 60_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  await Promise.all(bulkIds.map((id) => stack.client.cancelBulk(id)));
  let terminated = 0;
  for (;;) {
    const statuses = await Promise.all(bulkIds.map((id) => stack.client.bulkStatus(id)));
    const open = (await Promise.all(tenants.map((t) => runningCount(stack, t)))).reduce((a, b) => a + b, 0);
    if (open === 0 && statuses.every((s) => s.state !== 'running')) return terminated;
    if (Date.now() > deadline) {
      throw new Error(
        `bench:lanes: the flood of ${tenants.join(', ')} did not drain within ${timeoutMs / 1000} s ` +
          `(${open} open, bulks ${statuses.map((s) => s.state).join(', ')})`,
      );
    }
    for (const tenant of tenants) {
      const ids: string[] = [];
      for await (const wf of stack.temporal.workflow.list({ query: visibilityQuery({ tenant }, { running: true }), pageSize: 1000 })) {
        ids.push(wf.workflowId);
        if (ids.length >= 5000) break;
      }
      await mapLimit(ids, 32, async (id) => {
        try {
          await stack.temporal.workflow.getHandle(id).terminate('bench:lanes: next condition');
          terminated++;
        } catch {
          // already closed (completed, or cancelled by the bulk's cancel)
        }
      });
    }
    await sleep(1000);
  }
}

const { TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY } = temporal.api.enums.v1.TaskQueueType;

/** Approximate backlog of one task queue (DescribeTaskQueue stats; the server caches them ~5 s). */
async function backlog(stack: BenchStack, name: string, type: temporal.api.enums.v1.TaskQueueType): Promise<number> {
  const r = await stack.temporal.workflowService.describeTaskQueue({
    namespace: stack.temporal.options.namespace,
    taskQueue: { name },
    taskQueueType: type,
    reportStats: true,
  });
  const n = r.stats?.approximateBacklogCount;
  return n == null ? 0 : Number(n);
}

/**
 * Waits until the control queue (workflow tasks) and the demo pools' queues have no backlog, twice
 * in a row 6 s apart (the stats are cached ~5 s), so what a drained flood left in the queues is
 * gone before the next condition. Returns how long it took.
 */
export async function settle(stack: BenchStack, timeoutMs = 180_000): Promise<number> {
  const t0 = Date.now();
  const queues: [string, temporal.api.enums.v1.TaskQueueType][] = [
    [stack.client.catalog.controlQueue, TASK_QUEUE_TYPE_WORKFLOW],
    ...stack.client.catalog.pools.map((p): [string, temporal.api.enums.v1.TaskQueueType] => [p.taskQueue, TASK_QUEUE_TYPE_ACTIVITY]),
  ];
  let quiet = 0;
  while (quiet < 2) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`bench:lanes: the queues still had a backlog after ${timeoutMs / 1000} s`);
    const total = (await Promise.all(queues.map(([q, t]) => backlog(stack, q, t)))).reduce((a, b) => a + b, 0);
    quiet = total === 0 ? quiet + 1 : 0;
    if (quiet < 2) await sleep(total === 0 ? 6_000 : 2_000);
  }
  return Date.now() - t0;
}
