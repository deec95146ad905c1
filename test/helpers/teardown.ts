/**
 * Runs a test file's teardown steps in order, each within its own deadline, so one slow step (a
 * browser that takes its time to exit on a loaded CI machine) neither eats the hook's whole timeout
 * nor keeps the later steps (stopping the worker processes) from running. A step that overruns is
 * named in a warning and left to finish in the background; a step that throws fails the hook after
 * the others ran.
 */
export async function teardown(steps: Array<[label: string, step: () => Promise<unknown> | unknown]>, stepMs = 20_000): Promise<void> {
  const errors: unknown[] = [];
  for (const [label, step] of steps) {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const overran = new Promise<'overran'>((resolve) => {
      timer = setTimeout(() => resolve('overran'), stepMs);
    });
    try {
      const result = await Promise.race([Promise.resolve().then(step), overran]);
      if (result === 'overran') console.warn(`teardown: "${label}" still running after ${stepMs} ms; going on without it`);
    } catch (err) {
      errors.push(err);
    } finally {
      clearTimeout(timer);
    }
    const took = Date.now() - started;
    if (took > 5_000) console.warn(`teardown: "${label}" took ${took} ms`);
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} teardown steps failed`);
}
