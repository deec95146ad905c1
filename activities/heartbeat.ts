import type { Context } from '@temporalio/activity';

/**
 * Heartbeats every `everyMs` while `work` runs, for an activity that waits on something other than
 * its own progress (a limiter's answer, shards to settle, a pacer). Each beat sends the attempt's
 * last details again, so a retry still resumes from them (an activity that never sends details
 * sends none).
 */
export async function heartbeatWhile<T>(ctx: Context, everyMs: number, work: () => Promise<T>): Promise<T> {
  const beat = setInterval(() => ctx.heartbeat(ctx.info.heartbeatDetails), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}
