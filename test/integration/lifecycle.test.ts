import { WorkflowFailedError } from '@temporalio/client';
import { CONTROL_TASK_QUEUE, RUN_TASK_WORKFLOW } from '../../config/names';
import { uniqueId, waitFor, useStack } from '../helpers/stack';

jest.setTimeout(60_000);

const stack = useStack({
  pools: [
    ['demo', 'normal'],
    ['demo', 'high'],
  ],
});

async function runTaskCount(query: string): Promise<number> {
  return (await stack.temporal.workflow.count(`WorkflowType="${RUN_TASK_WORKFLOW}" AND ${query}`)).count;
}

test('a task runs on its pool and returns its result; state and search attributes agree', async () => {
  const { client } = stack;
  const id = uniqueId('echo');
  const sub = await client.submit('demo.echo', { hello: 'world' }, { taskId: id, tenant: 'acme' });
  expect(sub).toEqual({ taskId: id, status: 'queued', duplicate: false });
  await expect(client.result(id)).resolves.toEqual({ hello: 'world' });
  const state = await client.get(id);
  expect(state).toMatchObject({
    taskId: id,
    type: 'demo.echo',
    status: 'succeeded',
    attempts: 1,
    lane: 'normal',
    tenant: 'acme',
    result: { hello: 'world' },
  });
  expect(state.timestamps.finishedAt).toBeDefined();
  const listed = await waitFor(async () => {
    const r = await client.list({ type: 'demo.echo', status: 'succeeded', tenant: 'acme' });
    return r.tasks.find((t) => t.taskId === id);
  });
  expect(listed).toMatchObject({ group: 'demo', lane: 'normal', tenant: 'acme', executionStatus: 'COMPLETED' });
  expect(stack.ledgerFor(id)).toHaveLength(1);
});

test("a submit on another lane runs on that lane's pool", async () => {
  const id = uniqueId('lane');
  await stack.client.submit('demo.echo', 1, { taskId: id, lane: 'high' });
  await stack.client.result(id);
  expect((await stack.client.get(id)).lane).toBe('high');
});

test('duplicate submit while running and after success executes once', async () => {
  const { client } = stack;
  const id = uniqueId('dup');
  const first = await client.submit('demo.sleep', { ms: 1500 }, { taskId: id });
  expect(first.duplicate).toBe(false);
  await waitFor(async () => (await client.get(id)).status === 'running', 20_000, 'running');
  const whileRunning = await client.submit('demo.sleep', { ms: 1500 }, { taskId: id });
  expect(whileRunning).toEqual({ taskId: id, status: 'running', duplicate: true });
  await client.result(id);
  const afterSuccess = await client.submit('demo.sleep', { ms: 1500 }, { taskId: id });
  expect(afterSuccess).toEqual({ taskId: id, status: 'succeeded', duplicate: true });
  // Counted outside Temporal: the handler ran exactly once.
  expect(stack.ledgerFor(id)).toHaveLength(1);
  expect(await runTaskCount(`WorkflowId="${id}"`)).toBe(1);
});

test('a task whose last run failed may be submitted again', async () => {
  const { client } = stack;
  const id = uniqueId('refail');
  await client.submit('demo.fail', { errorClass: 'non_retryable', times: 1 }, { taskId: id });
  // A failure for good dead-letters the task (still open: a resubmit is a duplicate)...
  await waitFor(async () => (await client.get(id)).status === 'dead_lettered');
  expect((await client.submit('demo.fail', { errorClass: 'non_retryable', times: 0 }, { taskId: id })).duplicate).toBe(true);
  // ...until it is discarded (or its retention ends) and closes as failed.
  await client.discard(id);
  await expect(client.result(id)).rejects.toMatchObject({ type: 'TaskFailed', status: 'failed' });
  const again = await client.submit('demo.fail', { errorClass: 'non_retryable', times: 0 }, { taskId: id });
  expect(again.duplicate).toBe(false);
  await expect(client.result(id)).resolves.toEqual({ attempts: 1 });
  expect(stack.ledgerFor(id)).toHaveLength(2);
});

test('invalid input is a typed error and starts nothing', async () => {
  const id = uniqueId('invalid');
  await expect(stack.client.submitEnvelope({ type: 'demo.sleep', input: { ms: 'x' } }, id)).rejects.toMatchObject({
    type: 'ValidationError',
    issues: [expect.objectContaining({ path: 'input.ms' })],
  });
  await expect(stack.client.submitEnvelope({ type: 'demo.nope', input: {} }, id)).rejects.toMatchObject({ type: 'UnknownTaskTypeError' });
  await expect(stack.client.submitEnvelope({ type: 'demo.echo', input: {} }, '../etc')).rejects.toMatchObject({ type: 'ValidationError' });
  await expect(stack.client.describe(id)).rejects.toMatchObject({ type: 'TaskNotFound' });
  expect(await runTaskCount(`WorkflowId="${id}"`)).toBe(0);
});

test('a task started with a plain Temporal client behaves like one from TaskClient', async () => {
  const id = uniqueId('plain');
  const handle = await stack.temporal.workflow.start(RUN_TASK_WORKFLOW, {
    taskQueue: CONTROL_TASK_QUEUE,
    workflowId: id,
    args: [{ type: 'demo.echo', input: { via: 'plain' }, tenant: 'plain-co' }],
  });
  await expect(handle.result()).resolves.toEqual({ via: 'plain' });
  expect(await stack.client.get(id)).toMatchObject({ status: 'succeeded', type: 'demo.echo', tenant: 'plain-co', attempts: 1 });
  // The workflow set the search attributes itself, so the task is listable by them.
  const row = await waitFor(async () =>
    (await stack.client.list({ type: 'demo.echo', tenant: 'plain-co' })).tasks.find((t) => t.taskId === id),
  );
  expect(row).toMatchObject({ status: 'succeeded', group: 'demo', lane: 'normal' });
});

test('an invalid envelope from a plain client fails the task with a clear non-retryable error', async () => {
  const id = uniqueId('plainbad');
  const handle = await stack.temporal.workflow.start(RUN_TASK_WORKFLOW, {
    taskQueue: CONTROL_TASK_QUEUE,
    workflowId: id,
    args: [{ type: 'demo.sleep', input: { ms: 'soon' } }],
  });
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause).toMatchObject({ type: 'ValidationError', nonRetryable: true });
  expect((err as WorkflowFailedError).cause?.message).toMatch(/input\.ms/);
  const state = await stack.client.get(id);
  expect(state).toMatchObject({ status: 'failed', lastError: { type: 'ValidationError', class: 'non_retryable' } });
  expect(stack.ledgerFor(id)).toHaveLength(0);
});

test('cancel stops a running handler and the task ends cancelled', async () => {
  const id = uniqueId('cancel');
  await stack.client.submit('demo.sleep', { ms: 60_000 }, { taskId: id });
  await waitFor(async () => (await stack.client.get(id)).status === 'running', 20_000, 'running');
  await stack.client.cancel(id);
  await expect(stack.client.result(id)).rejects.toMatchObject({ type: 'TaskFailed' });
  expect((await stack.client.get(id)).status).toBe('cancelled');
  await expect(stack.client.cancel(id)).rejects.toMatchObject({ type: 'TaskConflict' });
});
