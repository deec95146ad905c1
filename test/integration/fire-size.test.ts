import { TaskClient } from '../../api/task-client';
import { catalog } from '../../examples/demo/catalog';
import { visibilityArrivalCounter } from '../../scaler/signals/fire-size';
import { uniqueId, useStack, waitFor } from '../helpers/stack';

jest.setTimeout(90_000);

const stack = useStack({ pools: [] });

/**
 * The fire-size learner's visibility count on the real server: a bad query would be swallowed by the
 * forecast (the declared size stands), so the query itself is checked here. The tasks go to an app of
 * their own (its control queue is polled by no one), so other tests' tasks cannot be counted.
 */
test("visibilityArrivalCounter counts the tasks that started on a pool's lane in a window, and nothing outside it", async () => {
  const app = uniqueId('arrivals').replace(/[^a-z0-9-]/g, '-');
  const appCatalog = catalog.withApp(app);
  const client = new TaskClient({ client: stack.temporal, catalog: appCatalog, admission: { kind: 'off' } });
  const count = visibilityArrivalCounter(stack.temporal, appCatalog.controlQueue);
  const from = Date.now() - 1_000;
  const ids = [1, 2, 3].map((i) => uniqueId(`arrival-${i}`));
  for (const id of ids) await client.submit('demo.echo', { id }, { taskId: id });
  const high = uniqueId('arrival-high');
  await client.submit('demo.echo', { other: true }, { taskId: high, lane: 'high' });
  const to = Date.now() + 1_000;
  try {
    // Visibility is eventually consistent, and with several history shards not even in start order
    // (each shard writes its own records): wait until all four starts are counted.
    const [n, h] = await waitFor(
      async () => {
        const c = await count({ group: 'demo', lane: 'normal' }, from, to);
        const hc = await count({ group: 'demo', lane: 'high' }, from, to);
        return c >= 3 && hc >= 1 ? [c, hc] : undefined;
      },
      20_000,
      'four arrivals counted',
    );
    expect(n).toBe(3);
    expect(h).toBe(1);
    await expect(count({ group: 'demo', lane: 'normal' }, from - 3_600_000, from - 1_800_000)).resolves.toBe(0);
  } finally {
    for (const id of [...ids, high])
      await stack.temporal.workflow
        .getHandle(id)
        .terminate('fire-size test')
        .catch(() => undefined);
  }
});
