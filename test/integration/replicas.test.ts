import { uniqueId, useStack, waitFor } from '../helpers/stack';
import { startApiProcess, type ApiProc } from './api-helpers';

jest.setTimeout(300_000);

// One pool, two control workers (the second spawned below), two API processes: one server.
const stack = useStack({ pools: [['demo', 'normal']] });
const KEY = 'replica-test-key';

const startApi = (): Promise<ApiProc> => startApiProcess(KEY);

test('two control workers and two API replicas: every task runs exactly once, through a SIGKILL of one of each mid-traffic', async () => {
  const control2 = await stack.spawn({ role: 'control' });
  const apis = [await startApi(), await startApi()];
  const prefix = uniqueId('replica');
  const ids = Array.from({ length: 60 }, (_, i) => `${prefix}-${i}`);
  let killed = false;
  try {
    const submit = async (id: string, i: number) => {
      // Round robin over the live APIs; a submit that dies with its replica goes to the other one
      // with the same task ID (what a load balancer's retry does): the ID makes it idempotent.
      for (let tries = 0; ; tries++) {
        const api = killed ? apis[0]! : apis[(i + tries) % 2]!;
        const r = await api
          .call('POST', '/v1/tasks', { key: KEY, json: { type: 'demo.sleep', input: { ms: 200 }, taskId: id } })
          .catch(() => undefined);
        if (r && r.status < 300) return;
        if (tries > 60) throw new Error(`submit ${id} kept failing: ${r?.status} ${r?.text}`);
        // 429: the lane's admission budget (per replica); wait as told, like any client should.
        const retryAfter = r?.status === 429 ? Number(r.headers.get('retry-after') ?? 1) : 0.25;
        await new Promise((res) => setTimeout(res, retryAfter * 1000));
      }
    };
    const inflight: Promise<void>[] = [];
    for (const [i, id] of ids.entries()) {
      if (i === 25) {
        // Mid-traffic: one API replica and one control worker die without warning.
        killed = true;
        apis[1]!.proc.kill('SIGKILL');
        void control2.kill();
      }
      inflight.push(submit(id, i));
      await new Promise((res) => setTimeout(res, 50));
    }
    await Promise.all(inflight);

    // Not lost: every task ends succeeded (read through the surviving replica).
    await waitFor(async () => {
      const states = await Promise.all(ids.map((id) => apis[0]!.call('GET', `/v1/tasks/${id}`, { key: KEY })));
      return states.every((s) => s.status === 200 && (s.body as { status?: string }).status === 'succeeded');
    }, 180_000);
    // Not doubled: the handler ran once per task (the demo's ledger records every real run).
    for (const id of ids) expect(stack.ledgerFor(id).map((e) => e.attempt)).toEqual([1]);
  } finally {
    for (const a of apis) if (a.proc.exitCode === null && a.proc.signalCode === null) a.proc.kill('SIGTERM');
    await Promise.all(apis.map((a) => a.exited));
  }
});
