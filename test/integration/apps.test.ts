import { join } from 'node:path';
import { TaskClient, type AnyTaskClient } from '../../api/task-client';
import { TaskNotFoundError } from '../../api/errors';
import { catalog as demo } from '../../examples/demo/catalog';
import { catalog as reportsCatalog } from '../fixtures/projects/reports/catalog';
import { RUN_TASK_WORKFLOW } from '../../config/names';
import { DEMO_CONFIG, expectNoLeakedWorkers, startStack, uniqueId, type Stack } from '../helpers/stack';

/**
 * Two projects with different catalogs on one namespace, running at once: the demo as app `alpha`
 * (TIDEWAY_APP overrides its config) and the `reports` fixture project (app named in its config).
 * Each app's control and pool workers poll only their own queues, so neither takes the other's
 * tasks; and one group's handler module that crashes at import never reaches another group's pool.
 */
jest.setTimeout(120_000);

const REPORTS_CONFIG = join(__dirname, '..', 'fixtures', 'projects', 'reports', 'tideway.config.ts');
let alpha: Stack;
let reports: Stack;

beforeAll(async () => {
  [alpha, reports] = await Promise.all([
    startStack({ config: DEMO_CONFIG, env: { TIDEWAY_APP: 'alpha' }, pools: [['demo', 'normal']] }),
    startStack({ config: REPORTS_CONFIG, pools: [['reports', 'normal']] }),
  ]);
});
afterAll(async () => {
  await Promise.all([alpha?.stop(), reports?.stop()]);
  expectNoLeakedWorkers();
});

const alphaClient = () => new TaskClient({ client: alpha.temporal, catalog: demo.withApp('alpha') });
// The fixture's catalog names no app; its tideway.config.ts does (`app: 'reports'`), as the workers saw.
const reportsApp = reportsCatalog.withApp('reports');
const reportsClient = () => new TaskClient({ client: reports.temporal, catalog: reportsApp });

async function activityQueues(c: AnyTaskClient, id: string): Promise<string[]> {
  const history = await c.handle(id).fetchHistory();
  return (history.events ?? []).flatMap((e) =>
    e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.taskQueue?.name ?? ''] : [],
  );
}

test('both apps run their own tasks at once, each on its own queues', async () => {
  const a = alphaClient();
  const r = reportsClient();
  const alphaIds = Array.from({ length: 8 }, (_, i) => uniqueId(`alpha-${i}`));
  const reportIds = Array.from({ length: 8 }, (_, i) => uniqueId(`rep-${i}`));
  await Promise.all([
    ...alphaIds.map((id, i) => a.submit('demo.echo', { i }, { taskId: id })),
    ...reportIds.map((id, i) => r.submit('reports.sum', { numbers: [i, 1, 2] }, { taskId: id })),
  ]);
  // If either control worker polled the other's queue, some of these would fail as unknown types.
  const results = await Promise.all([...alphaIds.map((id) => a.result(id)), ...reportIds.map((id) => r.result(id))]);
  expect(results.slice(0, 8)).toEqual(alphaIds.map((_, i) => ({ i })));
  expect(results.slice(8).map((x) => (x as { sum: number }).sum)).toEqual(reportIds.map((_, i) => i + 3));

  expect(await activityQueues(a, alphaIds[0]!)).toEqual(['tideway.alpha.demo.normal']);
  expect(await activityQueues(r, reportIds[0]!)).toEqual(['tideway.reports.reports.normal']);
  const d = await a.handle(alphaIds[0]!).describe();
  expect(d.taskQueue).toBe('tideway.alpha.control');
});

test("one app's client neither lists nor reads the other app's tasks", async () => {
  const a = alphaClient();
  const r = reportsClient();
  const id = uniqueId('rep-private');
  await r.submit('reports.sum', { numbers: [40, 2] }, { taskId: id });
  await r.result(id);
  await expect(a.get(id)).rejects.toBeInstanceOf(TaskNotFoundError);
  const listed = await r.list({ type: 'reports.sum' });
  expect(listed.tasks.map((t) => t.taskId)).toContain(id);
  const alphaListed = await a.list({});
  expect(alphaListed.tasks.some((t) => t.type === 'reports.sum')).toBe(false);
});

test("a plain Temporal client starts an app's task by naming that app's control queue", async () => {
  const id = uniqueId('plain-rep');
  const h = await reports.temporal.workflow.start(RUN_TASK_WORKFLOW, {
    taskQueue: reportsApp.controlQueue,
    workflowId: id,
    args: [{ type: 'reports.sum', input: { numbers: [1, 2, 3] } }],
  });
  expect(await h.result()).toMatchObject({ sum: 6 });
  // The same envelope on the other app's control queue is an unknown type there, not a task it runs.
  const stray = await alpha.temporal.workflow.start(RUN_TASK_WORKFLOW, {
    taskQueue: demo.withApp('alpha').controlQueue,
    workflowId: uniqueId('stray'),
    args: [{ type: 'reports.sum', input: { numbers: [1] } }],
  });
  await expect(stray.result()).rejects.toThrow();
  const history = await stray.fetchHistory();
  const failed = history.events?.find((e) => e.workflowExecutionFailedEventAttributes);
  expect(failed?.workflowExecutionFailedEventAttributes?.failure?.message).toContain(
    'unknown task type "reports.sum"; known types: demo.echo',
  );
});

test("a group whose handler module crashes at import fails only its own pool, with the module's error", async () => {
  await expect(reports.spawn({ role: 'pool', group: 'broken', lane: 'normal' })).rejects.toThrow(/import-time crash \(on purpose\)/);
  // The reports pool and the control worker of the same project never loaded that module.
  const r = reportsClient();
  const id = uniqueId('rep-after');
  await r.submit('reports.sum', { numbers: [5, 5] }, { taskId: id });
  expect(await r.result(id)).toMatchObject({ sum: 10 });
});
