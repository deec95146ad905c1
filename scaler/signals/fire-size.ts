import type { Client } from '@temporalio/client';
import { SA_KEYS } from '../../config/search-attributes';
import type { Lane } from '../../config/names';

/** How many tasks arrived on one pool in [from, to) (epoch ms). */
export type ArrivalCounter = (pool: { group: string; lane: Lane }, from: number, to: number) => Promise<number>;

/** What the learner knows of a task schedule's size. */
export interface LearnedFireSize {
  /** Tasks one fire brings to its pool: the median over the fires read. */
  readonly tasks: number;
  /** Past fires it was learned from (at most `fires`). */
  readonly fires: number;
}

export interface FireSizeLearnerOptions {
  /** Past fires to learn from, newest first. @default 5 */
  fires?: number;
  /** A fire's tasks are those that arrive on its pool within this long after it. @default 10 min */
  windowMs?: number;
}

/**
 * Learns how many tasks a (non-batch) schedule's fire really brings to its pool, from fires that
 * happened: for each of the last `fires` fires whose window has ended, the pool's arrivals in
 * [fire, fire + window) minus its arrivals in the window before (the traffic that would have come
 * anyway), never below 0; the estimate is their median, so one odd night moves it little. A fire's
 * count is read once and kept. Undefined until a fire's window has ended: the declared size stands.
 */
export class FireSizeLearner {
  private readonly fires: number;
  private readonly windowMs: number;
  /** Per schedule: the counted size of each fire time. */
  private readonly counted = new Map<string, Map<number, number>>();

  constructor(
    private readonly count: ArrivalCounter,
    opts: FireSizeLearnerOptions = {},
  ) {
    this.fires = opts.fires ?? 5;
    this.windowMs = opts.windowMs ?? 600_000;
  }

  /** The learned size of `scheduleId`, whose past fires (epoch ms, any order) are `pastFires`. */
  async learn(
    schedule: { scheduleId: string; group: string; lane: Lane },
    pastFires: readonly number[],
    now: number,
  ): Promise<LearnedFireSize | undefined> {
    const done = [...new Set(pastFires)]
      .filter((at) => at + this.windowMs <= now)
      .sort((a, b) => b - a)
      .slice(0, this.fires);
    if (done.length === 0) return undefined;
    const known = this.counted.get(schedule.scheduleId) ?? new Map<number, number>();
    const next = new Map<number, number>();
    for (const at of done) {
      let n = known.get(at);
      if (n === undefined) {
        const [after, before] = await Promise.all([
          this.count(schedule, at, at + this.windowMs),
          this.count(schedule, at - this.windowMs, at),
        ]);
        n = Math.max(0, after - before);
      }
      next.set(at, n);
    }
    this.counted.set(schedule.scheduleId, next);
    const sizes = [...next.values()].sort((a, b) => a - b);
    const mid = Math.floor(sizes.length / 2);
    const median = sizes.length % 2 ? sizes[mid]! : Math.round((sizes[mid - 1]! + sizes[mid]!) / 2);
    return { tasks: median, fires: sizes.length };
  }
}

/**
 * Counts a pool's arrivals from visibility: tasks of `controlQueue` with the pool's group and lane
 * that started in [from, to). One CountWorkflowExecutions call per window.
 */
export function visibilityArrivalCounter(client: Client, controlQueue: string): ArrivalCounter {
  return async (pool, from, to) => {
    // Group and lane names are validated identifiers ([a-z0-9-_.]), safe inside single quotes.
    const query =
      `TaskQueue = '${controlQueue}' AND ${SA_KEYS.ServiceGroup.name} = '${pool.group}' AND ${SA_KEYS.Lane.name} = '${pool.lane}' AND ` +
      `StartTime >= '${new Date(from).toISOString()}' AND StartTime < '${new Date(to).toISOString()}'`;
    return (await client.workflow.count(query)).count;
  };
}
