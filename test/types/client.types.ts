/**
 * Compile-time checks of TaskClient's typing, built by `npm run build` (part of `npm test`).
 * Each `@ts-expect-error` line must really be an error, or the build fails: the check cannot
 * pass by accident. Nothing here runs.
 */
import type { TaskClient } from '../../api/task-client';
import type { HttpTaskClient } from '../../api/http-client';
import type { Tasks } from '../../examples/demo/catalog';

export async function typingChecks(c: TaskClient<Tasks>): Promise<void> {
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

/** The HTTP client is typed by the same catalog. */
export async function httpTypingChecks(h: HttpTaskClient<Tasks>): Promise<void> {
  await h.submit('demo.sleep', { ms: 10 });
  // @ts-expect-error ms must be a number
  await h.submit('demo.sleep', { ms: 'x' });
  // @ts-expect-error unknown task type
  await h.submit('demo.nope', {});
  const slept: { sleptMs: number } = await h.result('t', 'demo.sleep');
  void slept;
}

/** With no catalog registered, any name and input are accepted (and the result is unknown). */
export async function untypedChecks(c: TaskClient): Promise<void> {
  await c.submit('anything.at-all', { x: 1 });
  const r = await c.result('t');
  // @ts-expect-error an unregistered result is unknown, not any
  const n: number = r;
  void n;
}
