import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineBatchHandler, defineHandlers, type TaskContext } from 'tideway';
import { catalog, fanout } from './catalog';

/**
 * The one unit of work both paths run: sleep `ms`, append a ledger line (when TIDEWAY_DEMO_LEDGER
 * names a file, so the bench can check no item ran twice), return the item's number.
 */
async function work(input: { n: number; ms: number }, ctx: TaskContext): Promise<{ n: number }> {
  if (input.ms > 0) await sleep(input.ms, undefined, { signal: ctx.signal });
  const file = process.env.TIDEWAY_DEMO_LEDGER;
  if (file) appendFileSync(file, `${JSON.stringify({ taskId: ctx.taskId, n: input.n, attempt: ctx.attempt, at: Date.now() })}\n`);
  return { n: input.n };
}

const fanoutHandler = defineBatchHandler(fanout, {
  *split(input) {
    for (let n = 0; n < input.shards; n++) yield { n, ms: input.ms };
  },
  shard: work,
  reduce(acc, results) {
    let { count, sum } = acc ?? { count: 0, sum: 0 };
    for (const r of results) {
      count += 1;
      sum += r.n;
    }
    return { count, sum };
  },
});

export default defineHandlers(catalog, { 'bench.fanout': fanoutHandler, 'bench.item': work });
