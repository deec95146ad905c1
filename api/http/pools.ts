import type { AdmissionGate } from '../../admission';
import type { Catalog } from '../../config/catalog-schema';
import type { Lane } from '../../config/names';
import type { Backpressure, QueueStatsReader } from './backpressure';
import type { AdmissionView, PoolView } from './schemas';

/** What a provider may add to a pool's row: the scaler fills replicas, desired and forecast. */
export type PoolExtras = Partial<Pick<PoolView, 'replicas' | 'desired' | 'forecast'>>;

/**
 * A source of per-pool facts beyond Temporal's backlog (e.g. the scaler's last decision).
 * Providers are asked in order; later ones override earlier ones field by field.
 */
export interface PoolInfoProvider {
  readonly name: string;
  poolInfo(group: string, lane: Lane): Promise<PoolExtras> | PoolExtras;
}

/** Rows of `GET /v1/pools`: backlog from describeTaskQueue, the rest from providers. */
export async function describePools(
  catalog: Catalog,
  stats: QueueStatsReader,
  backpressure: Backpressure | undefined,
  providers: readonly PoolInfoProvider[],
): Promise<PoolView[]> {
  return Promise.all(
    catalog.pools.map(async (p): Promise<PoolView> => {
      const taskQueue = p.taskQueue;
      const s = await stats.read(taskQueue).catch(() => undefined);
      let extras: PoolExtras = {};
      for (const prov of providers) {
        // A broken provider must not take the whole route down; its fields stay null.
        const more = await Promise.resolve(prov.poolInfo(p.group, p.lane)).catch(() => ({}));
        extras = { ...extras, ...more };
      }
      return {
        group: p.group,
        lane: p.lane,
        taskQueue,
        backlog: s?.backlog ?? null,
        backlogAgeMs: s?.backlogAgeMs ?? null,
        addRate: s?.addRate ?? null,
        dispatchRate: s?.dispatchRate ?? null,
        replicas: extras.replicas ?? null,
        desired: extras.desired ?? null,
        ...(extras.forecast !== undefined ? { forecast: extras.forecast } : {}),
        maxBacklog: backpressure?.settings.maxBacklog ?? null,
        overloaded: s && backpressure ? backpressure.overloaded(s) : false,
      };
    }),
  );
}

/** The `admission` object of `GET /v1/pools`: this API process's gate (rates rounded to 0.1/s; a shared fixed budget: this process's share). */
export function admissionView(gate: AdmissionGate): AdmissionView {
  const rates: AdmissionView['rates'] = {};
  for (const [lane, r] of Object.entries(gate.rates())) rates[lane as keyof AdmissionView['rates']] = Math.round(r * 10) / 10;
  const sharedBy = gate.snapshot().sharedBy;
  return {
    mode: gate.mode.kind,
    objectiveMs: gate.mode.kind === 'adaptive' ? gate.mode.objectiveMs : null,
    rates,
    ...(sharedBy !== undefined ? { sharedBy } : {}),
  };
}
