import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TaskClient } from '../../api/task-client';
import { catalog } from '../fixtures/projects/flow-keys/catalog';
import { expectNoLeakedWorkers, startStack, uniqueId, waitFor, type Stack } from '../helpers/stack';

/**
 * Rate limit per key on the real server with two real pool replicas: the 120 tasks of one
 * key at 60/min. `queue` mode paces grants one per second, so the 120 starts span ≈ 2 minutes
 * whatever the pool could do (it could run them all at once).
 */
jest.setTimeout(300_000);

const CONFIG = join(__dirname, '..', 'fixtures', 'projects', 'flow-keys', 'tideway.config.ts');
const app = catalog.withApp('flowtest');
let stack: Stack;
let client: TaskClient<typeof app extends { tasks: infer T } ? T : never>;

function starts(ids: Set<string>): number[] {
  if (!existsSync(stack.ledger)) return [];
  return readFileSync(stack.ledger, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { taskId: string; phase: string; at: number })
    .filter((l) => ids.has(l.taskId) && l.phase === 'start')
    .map((l) => l.at)
    .sort((a, b) => a - b);
}

beforeAll(async () => {
  stack = await startStack({
    config: CONFIG,
    pools: [
      ['flow', 'normal'],
      ['flow', 'normal'],
    ],
  });
  client = new TaskClient({ client: stack.temporal, catalog: app, admission: { kind: 'off' } });
});
afterAll(async () => {
  await stack?.stop();
  expectNoLeakedWorkers();
});

it('queue mode: 120 tasks of one key at 60/min start paced ≈ 1 s apart and all finish in about 2 minutes', async () => {
  const key = uniqueId('rq');
  const ids = Array.from({ length: 120 }, (_, i) => `${key}-${i}`);
  const t0 = Date.now();
  await Promise.all(ids.map((id) => client.submit('flow.rated', { key, ms: 50 }, { taskId: id })));
  const waiting = await waitFor(
    async () => {
      for (const id of ids.slice(-5)) {
        const s = await client.get(id);
        if (s.flow?.waiting) return s;
      }
      return undefined;
    },
    20_000,
    'a task waiting for a rate permit',
  );
  expect(waiting.flow?.rateKey).toBe(key);
  expect(waiting.flow?.waiting?.reason).toMatch(new RegExp(`^waiting for a rate permit: key ${key}, \\d+/60 per 1m used$`));
  await Promise.all(ids.map((id) => client.result(id, 'flow.rated')));
  const elapsed = Date.now() - t0;
  const at = starts(new Set(ids));
  expect(at).toHaveLength(120);
  const span = at[at.length - 1]! - at[0]!;
  // 119 gaps of 1 s; the pool alone would have started all 120 within a few seconds.
  expect(span).toBeGreaterThan(110_000);
  expect(elapsed).toBeLessThan(180_000);
  // At most 60 starts in any 60 s window, and no burst: at most 11 in any 10 s.
  for (let i = 0; i < at.length; i++) {
    expect(at.filter((t) => t >= at[i]! && t < at[i]! + 60_000).length).toBeLessThanOrEqual(60);
    expect(at.filter((t) => t >= at[i]! && t < at[i]! + 10_000).length).toBeLessThanOrEqual(11);
  }
  console.log(
    `flow-rate queue: 120 tasks at 60/min, starts span ${(span / 1000).toFixed(1)} s, all done after ${(elapsed / 1000).toFixed(1)} s`,
  );
});

it('drop mode: over 5/min per tenant the excess ends throttled_dropped, searchable by status', async () => {
  const tenant = uniqueId('rd').replace(/[^A-Za-z0-9_-]/g, '_');
  const ids = Array.from({ length: 12 }, (_, i) => `${tenant}-${i}`);
  await Promise.all(ids.map((id) => client.submit('flow.dropped', { key: 'x', ms: 10 }, { taskId: id, tenant })));
  const ends = await Promise.all(
    ids.map((id) =>
      client.result(id, 'flow.dropped').then(
        () => 'succeeded',
        () => 'rejected',
      ),
    ),
  );
  expect(ends.filter((e) => e === 'succeeded')).toHaveLength(5);
  const states = await Promise.all(ids.map((id) => client.get(id)));
  const dropped = states.filter((s) => s.status === 'throttled_dropped');
  expect(dropped).toHaveLength(7);
  expect(dropped[0]!.lastError).toMatchObject({ type: 'ThrottledDropped', class: 'throttled' });
  expect(dropped[0]!.flow?.rateKey).toBe(tenant);
  // Searchable: the TaskStatus search attribute, through Temporal and through TaskClient.list.
  const found = await waitFor(
    async () => {
      const n = (await stack.temporal.workflow.count(`TaskStatus="throttled_dropped" AND TenantId="${tenant}"`)).count;
      return n === 7 ? n : undefined;
    },
    20_000,
    'the dropped tasks in visibility',
  );
  expect(found).toBe(7);
  const listed = await client.list({ status: 'throttled_dropped', tenant });
  expect(listed.tasks.map((t) => t.taskId).sort()).toEqual(dropped.map((s) => s.taskId).sort());
  // Only handlers of granted tasks ran.
  expect(starts(new Set(ids))).toHaveLength(5);
});
