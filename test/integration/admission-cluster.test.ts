import { admissionRegistryQuery } from '../../config/messages';
import { admissionRegistryId } from '../../config/names';
import { uniqueId, useStack, waitFor } from '../helpers/stack';
import { startApiProcess, type ApiProc } from './api-helpers';

/**
 * A fixed lane admission budget holds across replicas: two API processes with TIDEWAY_ADMISSION
 * low=10/s check in with the admission registry workflow (run by the control worker) and admit
 * 5/s each, so a flood offered to both is started at about 10/s, not 20/s. When one is killed, the
 * other is told within the registry's TTL that it is alone and admits the whole 10/s.
 */

jest.setTimeout(240_000);

// The control worker runs the registry; the low pool drains the tasks the flood starts.
const stack = useStack({ pools: [['demo', 'low']] });
const KEY = 'admission-cluster-key';
const BUDGET = 10;
const TTL_MS = 3_000;

const startApi = (): Promise<ApiProc> =>
  startApiProcess(KEY, { TIDEWAY_ADMISSION: `low=${BUDGET}/s`, TIDEWAY_ADMISSION_TTL: `${TTL_MS}ms` });

interface AdmissionView {
  rates: { low?: number };
  sharedBy?: number;
}

async function admissionOf(api: ApiProc): Promise<AdmissionView | undefined> {
  const r = await api.call('GET', '/v1/pools', { key: KEY }).catch(() => undefined);
  return r?.status === 200 ? (r.body as { admission: AdmissionView }).admission : undefined;
}

/** Submits low-lane tasks back to back from `concurrency` loops until stopped; records when each was accepted. */
function flood(api: ApiProc, tag: string, concurrency: number): { accepted: number[]; stop: () => Promise<void> } {
  const accepted: number[] = [];
  let stopped = false;
  let n = 0;
  const loop = async () => {
    while (!stopped) {
      const id = `${tag}-${n++}`;
      const r = await api
        .call('POST', '/v1/tasks', { key: KEY, json: { type: 'demo.echo', input: {}, lane: 'low', taskId: id } })
        .catch(() => undefined);
      if (r?.status === 201) accepted.push(Date.now());
      else if (r === undefined)
        return; // the replica is gone
      else if (r.status === 429) await new Promise((res) => setTimeout(res, Number(r.headers.get('retry-after') ?? 1) * 1000));
      else throw new Error(`submit ${id}: ${r.status} ${r.text}`);
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    accepted,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Starts per second accepted in [from, to). */
function rateIn(times: readonly number[], from: number, to: number): number {
  return times.filter((t) => t >= from && t < to).length / ((to - from) / 1000);
}

test('two API replicas share a fixed low-lane budget; the survivor of a SIGKILL gets all of it within the TTL', async () => {
  const registry = stack.temporal.workflow.getHandle(admissionRegistryId());
  // Members left by an earlier run on the same server would only count until their TTL; start clean.
  await registry.terminate('test starts fresh').catch(() => undefined);
  const apis = [await startApi(), await startApi()] as const;
  const tag = uniqueId('adm-cluster');
  const floods = [flood(apis[0], `${tag}-a`, 6), flood(apis[1], `${tag}-b`, 6)];
  try {
    // Both join at their first low-lane admission and learn they are two.
    await waitFor(async () => {
      const views = await Promise.all(apis.map(admissionOf));
      return views.every((v) => v?.sharedBy === 2 && v.rates.low === BUDGET / 2);
    }, 30_000);
    const state = await registry.query(admissionRegistryQuery);
    expect(state.members).toHaveLength(2);

    // Ten seconds of both flooding: the two together start about the budget, not twice it.
    const from = Date.now() + 1_000;
    await new Promise((res) => setTimeout(res, 11_000));
    const to = Date.now();
    const [rateA, rateB] = floods.map((f) => rateIn(f.accepted, from, to)) as [number, number];
    const combined = rateA + rateB;
    console.log(`both replicas: ${rateA.toFixed(1)}/s + ${rateB.toFixed(1)}/s = ${combined.toFixed(1)}/s (budget ${BUDGET}/s)`);
    expect(combined).toBeLessThan(BUDGET * 1.25);
    expect(combined).toBeGreaterThan(BUDGET * 0.7);
    expect(Math.min(rateA, rateB)).toBeGreaterThan((BUDGET / 2) * 0.6);

    // One replica dies without leaving; the other is told it is alone once the dead one's TTL is past.
    const killedAt = Date.now();
    apis[1].proc.kill('SIGKILL');
    await apis[1].exited;
    const alone = await waitFor(async () => {
      const v = await admissionOf(apis[0]);
      return v?.sharedBy === 1 && v.rates.low === BUDGET ? Date.now() : undefined;
    }, 30_000);
    const tookMs = alone - killedAt;
    console.log(`the survivor had the whole budget ${tookMs} ms after the SIGKILL (TTL ${TTL_MS} ms)`);
    // Within the TTL, plus the time to ask /v1/pools on a loaded machine.
    expect(tookMs).toBeLessThan(TTL_MS + 1_500);

    // And it uses it: the survivor alone now starts about the whole budget.
    const from2 = Date.now() + 1_000;
    await new Promise((res) => setTimeout(res, 9_000));
    const survivor = rateIn(floods[0]!.accepted, from2, Date.now());
    console.log(`the survivor alone: ${survivor.toFixed(1)}/s (budget ${BUDGET}/s)`);
    expect(survivor).toBeGreaterThan(BUDGET * 0.7);
    expect(survivor).toBeLessThan(BUDGET * 1.25);
  } finally {
    await Promise.all(floods.map((f) => f.stop()));
    for (const a of apis) if (a.proc.exitCode === null && a.proc.signalCode === null) a.proc.kill('SIGTERM');
    await Promise.all(apis.map((a) => a.exited));
  }
  // A replica stopping cleanly leaves at once.
  await waitFor(async () => (await registry.query(admissionRegistryQuery)).members.length === 0, 15_000);
});
