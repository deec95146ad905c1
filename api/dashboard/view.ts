import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import { tsToDate } from '@temporalio/common/lib/time';
import type { Catalog } from '../../config/catalog-schema';
import type { Logger } from '../../config/log';
import { BULK_INTAKE_WORKFLOW, RUN_BATCH_WORKFLOW, TASK_STATUSES } from '../../config/names';
import { SA_KEYS } from '../../config/search-attributes';
import { summaryFrom } from '../search';
import type { AnyTaskClient } from '../task-client';
import type { AdmissionView, PoolView } from '../http/schemas';
import { DashboardForecast, FORECAST_HORIZON_MS } from './forecast';
import { PoolSampler } from './history';
import type { DashboardQuery, DashboardView, HistorySample } from './schemas';

/** What the dashboard needs beyond the API server's own parts. */
export interface DashboardOptions {
  /** The Temporal Web UI's base URL (`http://localhost:8233`), for a task's link; none = no link. */
  webUiUrl?: string;
  /** The high lane's queue-wait objective its wait is charted against. @default 250 ms */
  highWaitObjectiveMs?: number;
  /** Scaler options as configured (`scaler` in the config): the forecast plans replicas with them. */
  scalerOptions?: Readonly<Record<string, unknown>>;
  /** Time between history samples. @default 10 s */
  sampleIntervalMs?: number;
  /** How much history to keep. @default 1 h */
  historyWindowMs?: number;
}

/** The API parts the dashboard reads: the same as `GET /v1/pools`. */
export interface DashboardSources {
  client: AnyTaskClient;
  catalog: Catalog;
  pools(): Promise<PoolView[]>;
  admission(): AdmissionView;
  logger?: Logger;
}

/** Running batches and bulks shown at most (the newest visibility returns first). */
const MAX_RUNNING = 20;

/**
 * Builds `GET /v1/dashboard`: samples the pools into the last hour's history while the API runs,
 * and per request adds the 24 h forecast and the caller's dead letters, running batches and bulks.
 */
export class Dashboard {
  readonly sampler: PoolSampler;
  private readonly forecast: DashboardForecast;
  private readonly objectiveMs: number;

  constructor(
    private readonly src: DashboardSources,
    private readonly opts: DashboardOptions = {},
  ) {
    this.objectiveMs = opts.highWaitObjectiveMs ?? 250;
    this.forecast = new DashboardForecast(src.client.temporal, src.catalog, opts.scalerOptions);
    this.sampler = new PoolSampler({
      ...(opts.sampleIntervalMs !== undefined ? { intervalMs: opts.sampleIntervalMs } : {}),
      ...(opts.historyWindowMs !== undefined ? { windowMs: opts.historyWindowMs } : {}),
      take: async (at) => sampleOf(at, await src.pools(), src.admission()),
      ...(src.logger ? { logger: src.logger } : {}),
    });
  }

  start(): void {
    this.sampler.start();
  }

  async close(): Promise<void> {
    await this.sampler.stop();
  }

  async view(tenant: string, query: DashboardQuery): Promise<DashboardView> {
    const now = Date.now();
    const client = this.src.client;
    const [pools, forecast, deadLettered, batches, bulks] = await Promise.all([
      this.src.pools(),
      this.forecast.read(now).then(
        (fires) => ({ fires }),
        // Schedules unreadable for a moment: the rest of the page still updates.
        (err: unknown) => ({ fires: [], error: (err as Error).message }),
      ),
      client.count({ tenant, status: 'dead_lettered' }),
      this.runningBatches(tenant),
      this.runningBulks(tenant),
    ]);
    return {
      now,
      tenant,
      pools,
      admission: this.src.admission(),
      highWaitObjectiveMs: this.objectiveMs,
      history: { intervalMs: this.sampler.intervalMs, windowMs: this.sampler.windowMs, samples: this.sampler.samples(query.since) },
      forecast: { horizonMs: FORECAST_HORIZON_MS, ...forecast },
      deadLettered,
      batches,
      bulks,
      statuses: [...TASK_STATUSES],
      webUi: { url: this.opts.webUiUrl?.replace(/\/+$/, '') ?? null, namespace: client.temporal.options.namespace },
    };
  }

  /** The tenant's open `runBatch` workflows with their progress (query `state`). */
  private async runningBatches(tenant: string): Promise<DashboardView['batches']> {
    const summaries = await this.listOpen(RUN_BATCH_WORKFLOW, tenant);
    return Promise.all(
      summaries.map(async (s) => {
        const state = await this.src.client.stateOf(s).catch(() => undefined);
        return {
          taskId: s.taskId,
          runId: s.runId,
          type: s.type ?? state?.type ?? '',
          lane: s.lane ?? null,
          startTime: s.startTime,
          batch: state?.batch ?? null,
        };
      }),
    );
  }

  /** The tenant's bulks with a chunk still open, each summed by `GET /v1/bulk/{id}`'s code. */
  private async runningBulks(tenant: string): Promise<DashboardView['bulks']> {
    const chunks = await this.listOpen(BULK_INTAKE_WORKFLOW, tenant, 200);
    const ids = [...new Set(chunks.map((c) => c.bulkId).filter((b): b is string => b !== undefined))].slice(0, MAX_RUNNING);
    const out = await Promise.all(ids.map((id) => this.src.client.bulk.status(id, tenant).catch(() => undefined)));
    return out.filter((b) => b !== undefined);
  }

  private async listOpen(workflowType: string, tenant: string, pageSize = MAX_RUNNING) {
    const t = this.src.client.temporal;
    const res = await t.workflowService.listWorkflowExecutions({
      namespace: t.options.namespace,
      // The tenant comes from the API key store, which admits only tenant-shaped names.
      query:
        `WorkflowType="${workflowType}" AND TaskQueue="${this.src.catalog.controlQueue}" AND ` +
        `${SA_KEYS.TenantId.name}="${tenant}" AND ExecutionStatus="Running"`,
      pageSize,
    });
    return (res.executions ?? []).map((e) => {
      const sa = decodeTypedSearchAttributes(e.searchAttributes?.indexedFields);
      return {
        ...summaryFrom(e.execution?.workflowId ?? '', e.execution?.runId ?? '', sa, 'RUNNING', tsToDate(e.startTime!), undefined),
        bulkId: sa.get(SA_KEYS.BulkId),
      };
    });
  }
}

/** One history sample from the rows of `GET /v1/pools` and the admission rates. */
export function sampleOf(at: number, pools: readonly PoolView[], admission: AdmissionView): HistorySample {
  const out: HistorySample['pools'] = {};
  for (const p of pools) {
    out[`${p.group}.${p.lane}`] = { backlog: p.backlog, backlogAgeMs: p.backlogAgeMs, replicas: p.replicas, desired: p.desired };
  }
  return { at, pools: out, admission: { ...admission.rates } };
}
