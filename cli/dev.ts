import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatAdmissionMode } from '../config/admission';
import { startApiServer, type RunningApi } from '../api/http/start';
import { loadProject } from '../config/load';
import type { Settings } from '../config/settings';
import { scalerStateProvider } from '../api/http/scaler-pools';
import { ensureTemporal } from '../temporal';
import { spawnWorker, workerLogName, type WorkerProcess, type WorkerRole } from '../workers/supervisor';

export interface DevOptions {
  /** Run the scaler, which starts and stops pool processes; off runs no pools at all. @default true */
  pools?: boolean;
  /** The project's config module (`--config`); else TIDEWAY_CONFIG; else tideway.config.* here. */
  config?: string;
}

/** Compiled entry of the scaler process. */
const SCALER_MAIN = join(__dirname, '..', 'scaler', 'main.js');

/**
 * Starts the scaler as its own process with the process actuator. Its pool processes are its
 * children; if it dies they keep running and the restarted scaler adopts them (registry file).
 */
function spawnScaler(env: NodeJS.ProcessEnv, scaler: Settings['scaler'], logFile: string): ChildProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  // Dev decides every 5 s unless the project's scaler options (or TIDEWAY_SCALER_INTERVAL) say otherwise.
  const configured = scaler.options?.interval !== undefined;
  const interval = scaler.interval ?? (configured ? undefined : '5s');
  const child = spawn(process.execPath, [SCALER_MAIN, '--actuator', 'process', ...(interval ? ['--interval', interval] : [])], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  process.on('exit', () => child.exitCode === null && child.signalCode === null && child.kill('SIGTERM'));
  return child;
}

/**
 * `tideway dev` / `npm start`: the Temporal dev server (or TEMPORAL_ADDRESS), the control worker
 * and the scaler, which starts each pool's processes when it has work (or a cron fire is near) and
 * stops them when idle; prints where to look; stops everything on Ctrl-C.
 */
export async function runDev(opts: DevOptions = {}): Promise<void> {
  const project = await loadProject(opts.config ? { config: opts.config } : {});
  const { settings, catalog } = project;
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(
    `Project ${project.file}${catalog.app ? ` (app ${catalog.app})` : ''}: ${catalog.byName.size} task types in ${catalog.groups.join(', ')}`,
  );
  mkdirSync(settings.dataDir, { recursive: true });
  say(settings.temporalAddress ? `Using Temporal at ${settings.temporalAddress}` : 'Starting the Temporal dev server...');
  const target = await ensureTemporal(settings, say);
  const logDir = join(settings.dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });

  const procs: WorkerProcess[] = [];
  const common = { config: project.file, address: target.address, namespace: target.namespace };
  const roles: WorkerRole[] = [{ role: 'control' }];
  for (const r of roles) procs.push(spawnWorker(r, { ...common, logFile: join(logDir, workerLogName(r)) }));
  await Promise.all(procs.map((p) => p.ready));
  const scalerEnv = {
    ...project.env,
    TEMPORAL_ADDRESS: target.address,
    TEMPORAL_NAMESPACE: target.namespace,
    TIDEWAY_DATA_DIR: settings.dataDir,
  };
  let scaler: ChildProcess | undefined;
  let stopping = false;
  const startScaler = () => {
    scaler = spawnScaler(scalerEnv, settings.scaler, join(logDir, 'scaler.log'));
    const me = scaler;
    void once(me, 'exit').then(([code, signal]) => {
      if (stopping || me !== scaler) return;
      // Pools keep running meanwhile; the new scaler adopts them.
      say(`scaler exited (${String(signal ?? code)}); restarting it`);
      startScaler();
    });
  };
  if (opts.pools !== false) startScaler();
  // The HTTP API in this process; in dev it creates and prints a key when none is configured.
  const api: RunningApi = await startApiServer({
    project,
    address: target.address,
    namespace: target.namespace,
    dev: true,
    say,
    poolProviders: [scalerStateProvider(settings.dataDir)],
    ...(target.uiUrl ? { webUiUrl: target.uiUrl } : {}),
  });

  say('');
  say(`Tideway is up.`);
  say(`  Temporal gRPC   ${target.address}  (namespace ${target.namespace})`);
  if (target.uiUrl) say(`  Temporal Web UI ${target.uiUrl}/namespaces/${target.namespace}/workflows`);
  say(`  Workers         ${procs.map((p) => `${p.label} (pid ${p.pid})`).join(', ')}`);
  say(`  Lane admission  ${formatAdmissionMode(settings.admission)}  (TIDEWAY_ADMISSION: adaptive, off or budgets like low=8/s)`);
  if (scaler) {
    say(`  Scaler          pid ${scaler.pid}: starts pools (${catalog.pools.map((p) => `${p.group}/${p.lane}`).join(', ')}) on demand`);
    say('                  see `npx tideway pools`; decisions in logs/scaler.log');
  }
  say(`  Logs            ${logDir}${target.logFile ? `, ${target.logFile}` : ''}`);
  say('');
  const first = [...catalog.byName.keys()][0] ?? 'group.task';
  const cfg = opts.config ? ` --config ${opts.config}` : '';
  say(`Try:  npx tideway${cfg} types    # the task types and their inputs`);
  say(`      npx tideway${cfg} submit ${first} '<input as JSON>' --wait`);
  say(
    `      curl -s -H "Authorization: Bearer $TIDEWAY_API_KEY" ${api.url}/v1/tasks -H 'content-type: application/json' -d '{"type":"${first}","input":{...}}'`,
  );
  say('Press Ctrl-C to stop.');

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`\n${signal}: stopping the scaler, its pools and the workers (in-flight tasks finish first)...`);
    const s = scaler;
    if (s && s.exitCode === null && s.signalCode === null) {
      s.kill('SIGTERM');
      await once(s, 'exit');
    }
    await api.close();
    await Promise.all(procs.map((p) => p.stop()));
    if (target.started) say('Stopping the Temporal dev server...');
    await target.stop();
    say('Stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // A worker that dies unexpectedly is restarted, so `npm start` keeps serving every lane.
  for (const p of procs) watchAndRestart(p, procs, common, logDir, () => stopping);
}

function watchAndRestart(
  p: WorkerProcess,
  procs: WorkerProcess[],
  common: { config: string; address: string; namespace: string },
  logDir: string,
  isStopping: () => boolean,
): void {
  void p.exited.then((how) => {
    if (isStopping()) return;
    process.stdout.write(`${p.label} exited (${how}); restarting it\n`);
    const next = spawnWorker(p.role, { ...common, logFile: join(logDir, workerLogName(p.role)) });
    procs[procs.indexOf(p)] = next;
    watchAndRestart(next, procs, common, logDir, isStopping);
  });
}
