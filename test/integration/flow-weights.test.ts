import { join } from 'node:path';
import { temporal as proto } from '@temporalio/proto';
import { startApiServer, type RunningApi } from '../../api/http/start';
import { loadProject } from '../../config/load';
import { poolTaskQueue } from '../../config/names';
import { expectNoLeakedWorkers, readLedger, startStack, waitFor, type Stack } from '../helpers/stack';
import { caller, type Caller } from './api-helpers';

/**
 * Weighted fairness by plan, end to end (README "Flow control"): two API keys whose tenants are on
 * plans weighted 3 and 1 flood one lane through the HTTP API; the lane's pool has 2 slots and starts
 * only once the whole flood is queued, so the server's fair matcher orders a real backlog. The
 * dispatch order in the handlers' ledger shows the split while both tenants still wait.
 */
jest.setTimeout(240_000);

const CONFIG = join(__dirname, '..', 'fixtures', 'projects', 'flow', 'tideway.config.ts');
const PER_TENANT = 50;
const KEYS = { acme: 'key-acme-12345', beta: 'key-beta-12345' };
let stack: Stack;
let api: RunningApi;
let call: Caller;

beforeAll(async () => {
  stack = await startStack({ config: CONFIG, pools: [] });
  const env = {
    TEMPORAL_ADDRESS: stack.address,
    TIDEWAY_API_KEYS: `acme=${KEYS.acme},beta=${KEYS.beta}`,
    TIDEWAY_PLANS: 'pro=3,free=1',
    TIDEWAY_TENANT_PLANS: 'acme=pro,beta=free',
    TIDEWAY_ADMISSION: 'off',
    TIDEWAY_LOG_LEVEL: 'warn',
  };
  const project = await loadProject({ config: CONFIG, env });
  api = await startApiServer({ project, port: 0, host: '127.0.0.1', say: () => undefined });
  call = caller(api.url);
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
  expectNoLeakedWorkers();
});

it('dispatches a weight-3 tenant about 75% of the time against a weight-1 tenant in one contended lane', async () => {
  const queue = poolTaskQueue('flow', 'low', 'flow');
  // Interleaved, so submit order favours neither tenant.
  for (let i = 0; i < PER_TENANT; i++) {
    for (const tenant of ['acme', 'beta'] as const) {
      const r = await call('POST', '/v1/tasks', { key: KEYS[tenant], json: { type: 'flow.weighted', input: { ms: 250 } } });
      expect(r.status).toBe(201);
    }
  }
  // Every task's activity waits in the lane's queue before any pool polls it.
  await waitFor(
    async () => {
      const r = await stack.temporal.workflowService.describeTaskQueue({
        namespace: 'default',
        taskQueue: { name: queue },
        taskQueueType: proto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        reportStats: true,
      });
      return (r.stats?.approximateBacklogCount?.toNumber() ?? 0) >= 2 * PER_TENANT;
    },
    60_000,
    'the whole flood in the backlog',
  );
  await stack.spawn({ role: 'pool', group: 'flow', lane: 'low' });
  await waitFor(() => readLedger(stack.ledger).length >= 2 * PER_TENANT, 120_000, 'every task to run');

  const order = (readLedger(stack.ledger) as unknown as { tenant: string; at: number }[]).sort((a, b) => a.at - b.at).map((l) => l.tenant);
  // The contended window: until one tenant has nothing left to dispatch.
  const seen = { acme: 0, beta: 0 };
  let window = 0;
  for (const t of order) {
    if (seen.acme === PER_TENANT || seen.beta === PER_TENANT) break;
    seen[t as 'acme' | 'beta'] += 1;
    window += 1;
  }
  const share = seen.acme / window;
  console.log(
    `weighted split over ${window} contended dispatches: acme (weight 3) ${(share * 100).toFixed(1)}%, beta (weight 1) ${((1 - share) * 100).toFixed(1)}% (target 75/25)`,
  );
  expect(window).toBeGreaterThanOrEqual(40);
  expect(share).toBeGreaterThanOrEqual(0.65);
  expect(share).toBeLessThanOrEqual(0.85);
});
