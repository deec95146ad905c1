import { type Command } from 'commander';
import { formatMs } from '../../config/duration';
import { compileScalerOptions } from '../../scaler/options';
import { addScalerFlags, runScaler, type ScalerFlags } from '../../scaler/run';
import { describeQueueStats } from '../../scaler/signals/backlog';
import { forecastSignal } from '../../scaler/signals/forecast';
import { defaultStateFile, isStale, readScalerState, type PoolState } from '../../scaler/state';
import { printJson, table } from '../format';
import { cliProject, configOption, withTemporal } from '../project';

/** Reads backlog and forecast straight from Temporal when no scaler is writing its state file. */
async function liveView(): Promise<PoolState[]> {
  return withTemporal(async ({ client, project }) => {
    const { catalog } = project;
    const opts = compileScalerOptions({}, catalog.pools);
    const forecast = await forecastSignal({ catalog, client, horizonMs: opts.forecastHorizonMs }).read(opts.pools, Date.now());
    // `return await`: the connection closes when this callback settles, so the calls must finish first.
    return await Promise.all(
      opts.pools.map(async (p) => {
        const q = await describeQueueStats(client, p.taskQueue);
        const fires = forecast.get(p.key)?.fires ?? [];
        return {
          pool: p.key,
          group: p.group,
          lane: p.lane,
          taskQueue: p.taskQueue,
          backlog: q.backlog,
          backlogAgeMs: q.backlogAgeMs,
          addRate: q.addRate,
          dispatchRate: q.dispatchRate,
          inFlight: 0,
          meanDurationMs: opts.defaultMeanDurationMs[p.key] ?? 0,
          meanDurationSource: 'default' as const,
          replicas: Number.NaN,
          desired: Number.NaN,
          recommended: Number.NaN,
          reason: 'no scaler running',
          minReplicas: p.minReplicas,
          maxReplicas: p.maxReplicas,
          nextFires: fires.slice(0, 5).map((f) => ({
            at: new Date(f.at).toISOString(),
            scheduleId: f.scheduleId,
            taskType: f.taskType,
            expectedTasks: f.expectedTasks,
          })),
        };
      }),
    );
  });
}

/** Adds `tideway pools` (what the scaler sees and decided) and `tideway scaler` (run it). */
export function registerScalerCommands(program: Command): void {
  program
    .command('pools')
    .description("show each pool's backlog, replicas, desired replicas and next forecast fires (from the scaler's state file)")
    .option('--state-file <file>', 'scaler state file (default <data dir>/scaler-state.json)')
    .option('--json', 'machine-readable output')
    .action(async (o: { stateFile?: string; json?: boolean }) => {
      const file = o.stateFile ?? defaultStateFile((await cliProject()).settings.dataDir);
      const state = readScalerState(file);
      const fresh = state !== undefined && !isStale(state);
      const pools = fresh ? state.pools : await liveView();
      if (o.json) return printJson({ source: fresh ? 'scaler' : 'live', updatedAt: state?.updatedAt ?? null, pools });
      if (!fresh)
        process.stdout.write(
          `No running scaler wrote ${file}${state ? ` since ${state.updatedAt}` : ''}; showing live backlog and forecast only.\n`,
        );
      const n = (v: number) => (Number.isNaN(v) ? '-' : String(v));
      const rows = pools.map((p) => ({
        pool: p.pool,
        backlog: p.backlog,
        age: p.backlogAgeMs > 0 ? formatMs(p.backlogAgeMs) : '-',
        'add/s': p.addRate.toFixed(1),
        running: p.inFlight,
        replicas: n(p.replicas),
        desired: n(p.desired),
        bounds: `${p.minReplicas}-${p.maxReplicas}`,
        reason: p.reason,
        'next fires':
          p.nextFires
            .slice(0, 2)
            .map((f) => `${f.at.slice(11, 19)}Z x${f.expectedTasks} (${f.scheduleId})`)
            .join(', ') || '-',
      }));
      process.stdout.write(`${table(rows)}\n`);
      if (fresh) process.stdout.write(`scaler (${state.actuator}) updated ${state.updatedAt}\n`);
    });

  addScalerFlags(
    program
      .command('scaler')
      .description('run the scaler: backlog + cron forecast in, replicas out (process, kubernetes or dry-run actuator)'),
  ).action(async (f: ScalerFlags) => runScaler({ ...f, ...(configOption() ? { config: configOption() } : {}) }));
}
