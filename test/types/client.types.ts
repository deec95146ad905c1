/**
 * Compile-time checks of TaskClient's typing, built by `npm run build` (part of `npm test`).
 * Each `@ts-expect-error` line must really be an error, or the build fails: the check cannot
 * pass by accident. Nothing here runs.
 */
import type { TaskClient } from '../../api/task-client';

export async function typingChecks(c: TaskClient): Promise<void> {
  await c.submit('demo.sleep', { ms: 10 });
  await c.submit('demo.fail', { errorClass: 'throttled', times: 2 }, { lane: 'high', taskId: 'x' });
  // @ts-expect-error ms must be a number
  await c.submit('demo.sleep', { ms: 'x' });
  // @ts-expect-error unknown task type
  await c.submit('demo.nope', {});
  // @ts-expect-error errorClass is a closed set
  await c.submit('demo.fail', { errorClass: 'sometimes', times: 1 });
  // @ts-expect-error lanes are high | normal | low
  await c.submit('demo.echo', {}, { lane: 'urgent' });
  const slept: { sleptMs: number } = await c.result('t', 'demo.sleep');
  void slept;
}
