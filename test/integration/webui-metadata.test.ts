import { defaultPayloadConverter } from '@temporalio/common';
import { uniqueId, useStack, waitFor } from '../helpers/stack';

/**
 * What the Temporal Web UI shows of a task without our docs: the workflow's user metadata (summary
 * in the list, details on its page) and a summary on each schedule of the handler activity.
 */
jest.setTimeout(120_000);

const stack = useStack({ pools: [['demo', 'normal']] });

test('a task workflow has a summary and details; its handler activity has a summary', async () => {
  const id = uniqueId('webui');
  await stack.client.submit('demo.echo', { hello: 'ui' }, { taskId: id, tenant: 'acme' });
  await stack.client.result(id);

  const d = await stack.temporal.workflow.getHandle(id).describe();
  expect(await d.staticSummary()).toBe('demo.echo · normal lane · tenant acme');
  const details = await d.staticDetails();
  expect(details).toContain('**Type** `demo.echo` (group `demo`)');
  expect(details).toContain('**Tenant** `acme`');
  expect(details).toContain('**Lane** `normal`');

  const history = await stack.temporal.workflow.getHandle(id).fetchHistory();
  const scheduled = history.events?.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'executeTask');
  expect(scheduled?.userMetadata?.summary).toBeDefined();
  expect(defaultPayloadConverter.fromPayload(scheduled!.userMetadata!.summary!)).toBe('demo.echo on normal lane, tenant acme');
});

test('a bulk task names its bulk in summary and details', async () => {
  const accepted = await stack.client.submitMany([{ type: 'demo.echo', input: { n: 1 }, taskId: uniqueId('webui-bulk') }], {
    tenant: 'acme',
  });
  const taskId = accepted.taskIds[0]!;
  // The intake starts it shortly after the accept.
  await waitFor(() => stack.client.result(taskId).then(() => true), 30_000, 'the bulk task to finish');
  const d = await stack.temporal.workflow.getHandle(taskId).describe();
  expect(await d.staticSummary()).toBe(`demo.echo · normal lane · tenant acme · bulk ${accepted.bulkId}`);
  expect(await d.staticDetails()).toContain(`**Bulk** \`${accepted.bulkId}\``);
});
