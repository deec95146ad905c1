import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TaskContext } from 'tideway';

/** Sleeps, then appends `{taskId, attempt, pid, startedAt, at}` to SOAK_LEDGER (kept outside Temporal). */
export async function run(input: { n: number; ms: number }, ctx: TaskContext): Promise<{ n: number }> {
  const startedAt = Date.now();
  await sleep(input.ms);
  const file = process.env.SOAK_LEDGER;
  if (file)
    appendFileSync(file, `${JSON.stringify({ taskId: ctx.taskId, attempt: ctx.attempt, pid: process.pid, startedAt, at: Date.now() })}\n`);
  return { n: input.n };
}
