import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { stateQuery } from '../../config/messages';
import { CONTROL_TASK_QUEUE, RUN_TASK_WORKFLOW } from '../../config/names';
import { loadSettings } from '../../config/settings';
import type { TaskState } from '../../config/task-state';
import { findOrBuildTemporalCli } from '../../temporal';
import { uniqueId, useStack, waitFor } from '../helpers/stack';

/**
 * "Succeeds once" whatever the caller: a plain Temporal client's default reuse policy allows a new
 * run of a completed workflow ID, so Tideway's resolve step refuses to run the handler again. The
 * ledger (one line per real handler run, outside Temporal) is the proof.
 */
jest.setTimeout(120_000);

const stack = useStack({ pools: [['demo', 'normal']] });
const run = promisify(execFile);

/** A plain `@temporalio/client` start with default options, as any Temporal user would write it. */
const plainStart = (id: string, envelope: unknown) =>
  stack.temporal.workflow.start(RUN_TASK_WORKFLOW, { taskQueue: CONTROL_TASK_QUEUE, workflowId: id, args: [envelope] });

test('a second plain start after success runs no handler: it ends as a duplicate with the first result', async () => {
  const id = uniqueId('plain-once');
  const first = await plainStart(id, { type: 'demo.echo', input: { n: 1 } });
  expect(await first.result()).toEqual({ n: 1 });

  // Default options: Temporal accepts a new run of the completed ID.
  const second = await plainStart(id, { type: 'demo.echo', input: { n: 2 } });
  expect(second.firstExecutionRunId).not.toBe(first.firstExecutionRunId);
  expect(await second.result()).toEqual({ n: 1 });
  const s = await second.query(stateQuery);
  expect(s.status).toBe('duplicate');
  expect(s.duplicateOf?.runId).toBe(first.firstExecutionRunId);
  expect(s.result).toEqual({ n: 1 });
  expect(stack.ledgerFor(id)).toHaveLength(1);

  // list and get tell the truth: the latest run is a duplicate, the first one succeeded.
  await waitFor(async () => (await stack.client.describe(id)).status === 'duplicate', 10_000, 'TaskStatus=duplicate in visibility');
  const runs = await stack.client.list({ type: 'demo.echo', status: 'succeeded' }, { pageSize: 1000 });
  expect(runs.tasks.filter((t) => t.taskId === id).map((t) => t.runId)).toEqual([first.firstExecutionRunId]);
});

test('two plain starts back to back after success: neither runs the handler', async () => {
  const id = uniqueId('plain-race');
  const first = await plainStart(id, { type: 'demo.echo', input: { race: true } });
  await first.result();
  // Both at once: Temporal lets one run exist at a time; the other start is refused or comes after.
  const starts = await Promise.allSettled([
    plainStart(id, { type: 'demo.echo', input: { race: 1 } }),
    plainStart(id, { type: 'demo.echo', input: { race: 2 } }),
  ]);
  for (const s of starts) {
    if (s.status === 'fulfilled') expect(await s.value.result()).toEqual({ race: true });
    else expect(s.reason).toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
  }
  // And once more after both finished.
  const third = await plainStart(id, { type: 'demo.echo', input: { race: 3 } });
  expect(await third.result()).toEqual({ race: true });
  expect(stack.ledgerFor(id)).toHaveLength(1);
});

test('an earlier run that did not succeed may run again', async () => {
  const id = uniqueId('plain-again');
  // demo.flaky keeps a dead letter 3 s, then closes as failed.
  const failed = await plainStart(id, { type: 'demo.flaky', input: { errorClass: 'non_retryable', times: 5 } });
  await expect(failed.result()).rejects.toThrow();
  const again = await plainStart(id, { type: 'demo.flaky', input: { errorClass: 'non_retryable', times: 0 } });
  expect(await again.result()).toEqual({ attempts: 1 });
  expect((await again.query(stateQuery)).status).toBe('succeeded');
  expect(stack.ledgerFor(id)).toHaveLength(2);
});

describe('the Temporal CLI as a plain client (another language, same contract)', () => {
  let cli: string;
  const temporal = (...args: string[]) =>
    run(cli, [...args, '--address', stack.address, '--namespace', 'default'], { timeout: 60_000 }).then((r) => r.stdout);
  beforeAll(async () => {
    const s = loadSettings();
    cli = await findOrBuildTemporalCli({ explicit: s.temporalCli, cacheDir: s.cacheDir, searchPath: s.searchPath });
  });
  const start = (id: string, envelope: unknown) =>
    temporal(
      'workflow',
      'start',
      '--type',
      RUN_TASK_WORKFLOW,
      '--task-queue',
      CONTROL_TASK_QUEUE,
      '--workflow-id',
      id,
      '--input',
      JSON.stringify(envelope),
    );

  test('success, a query of state, and a duplicate after success that runs nothing', async () => {
    const id = uniqueId('cli-once');
    await start(id, { type: 'demo.echo', input: { from: 'cli' } });
    expect(await temporal('workflow', 'result', '--workflow-id', id, '--output', 'json')).toContain('"from": "cli"');
    const state = JSON.parse(await temporal('workflow', 'query', '--type', 'state', '--workflow-id', id, '--output', 'json')) as {
      queryResult: [TaskState];
    };
    expect(state.queryResult[0]).toMatchObject({ taskId: id, status: 'succeeded', type: 'demo.echo', attempts: 1 });

    await start(id, { type: 'demo.echo', input: { from: 'cli, again' } });
    expect(await temporal('workflow', 'result', '--workflow-id', id, '--output', 'json')).toContain('"from": "cli"');
    const again = JSON.parse(await temporal('workflow', 'query', '--type', 'state', '--workflow-id', id, '--output', 'json')) as {
      queryResult: [TaskState];
    };
    expect(again.queryResult[0]).toMatchObject({ status: 'duplicate', result: { from: 'cli' } });
    expect(stack.ledgerFor(id)).toHaveLength(1);
  });

  test('a schema error fails the task with a ValidationError naming the field, and runs nothing', async () => {
    const id = uniqueId('cli-bad');
    await start(id, { type: 'demo.sleep', input: { ms: 'x' } });
    await expect(temporal('workflow', 'result', '--workflow-id', id)).rejects.toMatchObject({
      stdout: expect.stringMatching(/ValidationError|input\.ms/),
    });
    expect(stack.ledgerFor(id)).toHaveLength(0);
  });
});
