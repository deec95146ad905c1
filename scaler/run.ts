import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Option, type Command } from 'commander';
import { loadProject } from '../config/load';
import { temporalAddressOf } from '../config/settings';
import { createLogger } from '../config/log';
import { securityOptions } from '../temporal/connection';
import { dataConverterOf } from '../temporal/codec';
import { ACTUATOR_TYPES, createActuator, ProcessActuator, type ActuatorConfig, type ActuatorType } from './actuators';
import { ScalerMetrics } from './metrics';
import { compileScalerOptions, type ScalerOptions } from './options';
import { Scaler } from './scaler';
import { defaultSignals } from './signals';
import { defaultStateFile, readScalerState } from './state';
import { ScalerLease } from './lease';
import { parseDuration } from '../config/duration';

/** Flags of `tideway scaler` and `node dist/scaler/main.js` (one definition for both). */
export interface ScalerFlags {
  /** @default the settings' (TIDEWAY_SCALER_ACTUATOR, else process) */
  actuator?: ActuatorType;
  options?: string;
  interval?: string;
  drain?: string;
  window?: string;
  idleAfter?: string;
  forecast: boolean;
  pools?: string;
  maxTotal?: string;
  stateFile?: string;
  registryFile?: string;
  /** @default the settings' (TIDEWAY_SCALER_METRICS_PORT, else none) */
  metricsPort?: string;
  logDir?: string;
  k8sNamespace?: string;
  k8sDeployment?: string;
  /** Act only while holding the scaler lease (default: TIDEWAY_SCALER_LEASE). */
  lease?: boolean;
  /** The project's config module (else TIDEWAY_CONFIG, else tideway.config.* here). */
  config?: string;
}

/** Adds the scaler's flags to a command. */
export function addScalerFlags(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--actuator <type>', 'who runs the pools (default: TIDEWAY_SCALER_ACTUATOR, else process)').choices(ACTUATOR_TYPES),
    )
    .option(
      '--options <json>',
      "scaler options as JSON (see docs/scaler.md; default: the config's `scaler`, or TIDEWAY_SCALER_OPTIONS); flags below win",
    )
    .option('--interval <duration>', "decision interval, e.g. '15s'")
    .option('--drain <duration>', 'target drain time of a backlog')
    .option('--window <duration>', 'stabilization window before scaling down')
    .option('--idle-after <duration>', 'idle time before a pool may go to zero')
    .option('--no-forecast', 'backlog only: ignore cron schedules')
    .option('--pools <keys>', 'comma-separated pools to scale, e.g. demo.normal,demo.high')
    .option('--max-total <n>', 'global replica budget')
    .option('--state-file <file>', 'where to write the state `tideway pools` reads (default <data dir>/scaler-state.json)')
    .option(
      '--registry-file <file>',
      'process actuator: pids of running pools, adopted after a restart (default <data dir>/scaler-pools.json)',
    )
    .option('--metrics-port <port>', 'serve /metrics (Prometheus) and /state (JSON) on this port (default: TIDEWAY_SCALER_METRICS_PORT)')
    .option('--log-dir <dir>', 'process actuator: folder for pool logs (default <data dir>/logs)')
    .option('--k8s-namespace <ns>', 'kubernetes actuator: namespace of the pool Deployments', 'default')
    .option('--k8s-deployment <template>', 'kubernetes actuator: Deployment name template', 'tideway-pool-{group}-{lane}')
    .option(
      '--lease',
      'run as one of several replicas: scale only while holding the scaler lease, stand by otherwise (default: TIDEWAY_SCALER_LEASE)',
    );
}

/** Turns flags into ScalerOptions (flags override `--options`, else the settings' options). */
export function optionsFromFlags(f: ScalerFlags, fallback?: Readonly<Record<string, unknown>>): ScalerOptions {
  const base = (f.options ? JSON.parse(f.options) : (fallback ?? {})) as ScalerOptions;
  return {
    ...base,
    ...(f.interval ? { interval: f.interval as ScalerOptions['interval'] } : {}),
    ...(f.drain ? { targetDrainTime: f.drain as ScalerOptions['targetDrainTime'] } : {}),
    ...(f.window ? { stabilizationWindow: f.window as ScalerOptions['stabilizationWindow'] } : {}),
    ...(f.idleAfter ? { idleAfter: f.idleAfter as ScalerOptions['idleAfter'] } : {}),
    ...(f.forecast === false ? { forecast: false } : {}),
    ...(f.pools ? { pools: f.pools.split(',').map((s) => s.trim()) } : {}),
    ...(f.maxTotal ? { maxTotalReplicas: Number(f.maxTotal) } : {}),
  };
}

/**
 * Runs the scaler as a long-lived process until SIGTERM/SIGINT. With the process actuator, stopping
 * drains the pools it runs; a crash leaves them running and the next scaler adopts them.
 */
export async function runScaler(f: ScalerFlags): Promise<void> {
  const project = await loadProject(f.config ? { config: f.config } : {});
  const { settings, catalog } = project;
  const log = createLogger('tideway-scaler', settings.logLevel, catalog.app ? { app: catalog.app } : {});
  const address = temporalAddressOf(settings);
  const options = compileScalerOptions(optionsFromFlags(f, settings.scaler.options), catalog.pools);
  const actuatorType = f.actuator ?? settings.scaler.actuator;
  const metricsPort = f.metricsPort ? Number(f.metricsPort) : settings.scaler.metricsPort;
  const connection = await Connection.connect({ address, ...securityOptions(settings) });
  // Schedule memos are sealed when encryption is on; the forecast reads them.
  const client = new Client({ connection, namespace: settings.namespace, dataConverter: dataConverterOf(settings) });
  const stateFile = f.stateFile ?? defaultStateFile(settings.dataDir);
  const cfg: ActuatorConfig =
    actuatorType === 'process'
      ? {
          type: 'process',
          config: project.file,
          address,
          namespace: settings.namespace,
          logDir: f.logDir ?? join(settings.dataDir, 'logs'),
          registryFile: f.registryFile ?? join(settings.dataDir, 'scaler-pools.json'),
        }
      : actuatorType === 'kubernetes'
        ? { type: 'kubernetes', namespace: f.k8sNamespace ?? 'default', deploymentName: f.k8sDeployment ?? 'tideway-pool-{group}-{lane}' }
        : { type: 'dry-run' };
  const actuator = createActuator(cfg);
  // With replicas, only the lease holder may touch the pools: wait for the lease before adopting them.
  const lease =
    (f.lease ?? settings.scaler.lease)
      ? new ScalerLease(client, { app: catalog.app, taskQueue: catalog.controlQueue, ttlMs: parseDuration(settings.scaler.leaseTtl)! }, log)
      : undefined;
  if (lease) {
    log.info({ event: 'scaler:lease-waiting', holder: lease.holder, lease: lease.workflowId }, 'waiting for the scaler lease');
    await lease.acquire();
    void lease.lost.then((reason) => {
      // Another scaler may act now: stop at once, as a crash does (pools keep running, the holder adopts them).
      log.fatal({ event: 'scaler:lease-lost', reason }, 'lost the scaler lease; exiting');
      process.kill(process.pid, 'SIGKILL');
    });
  }
  if (actuator instanceof ProcessActuator) {
    const n = actuator.adopt(options.pools);
    if (n > 0) log.info({ event: 'scaler:adopted', replicas: n }, `adopted ${n} running pool processes`);
  }
  const metrics = new ScalerMetrics();
  const scaler = new Scaler({ options, signals: defaultSignals(client, catalog, options), actuator, logger: log, metrics, stateFile });

  let server: Server | undefined;
  if (metricsPort !== undefined) {
    server = createServer((req, res) => {
      if (req.url === '/metrics') {
        void metrics.registry.metrics().then((body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body));
      } else if (req.url === '/state') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(readScalerState(stateFile) ?? null));
      } else res.writeHead(404).end();
    }).listen(metricsPort, '127.0.0.1');
  }

  // A crash must not run the supervisor's exit hook (which kills child pools): die abruptly so the
  // pools keep their size and the next scaler adopts them from the registry file.
  process.on('uncaughtException', (err) => {
    log.fatal({ event: 'scaler:crash', err: err.message }, 'scaler crashed; pools keep running');
    process.kill(process.pid, 'SIGKILL');
  });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'scaler:stopping', signal }, 'scaler stopping');
    await scaler.stop({ stopPools: true });
    await lease?.release();
    server?.close();
    await connection.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  log.info(
    {
      event: 'scaler:started',
      actuator: actuator.type,
      address,
      pools: options.pools.map((p) => p.key),
      intervalMs: options.intervalMs,
      stateFile,
    },
    'scaler started',
  );
  scaler.start();
}
