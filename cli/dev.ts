import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { catalog } from '../config/catalog';
import { loadSettings } from '../config/settings';
import { ensureTemporal } from '../temporal';
import { spawnWorker, workerLogName, type WorkerProcess, type WorkerRole } from '../workers/supervisor';

export interface DevOptions {
  /** Start pool processes (one per (group, lane)); off when a scaler manages them. @default true */
  pools?: boolean;
}

/**
 * `tideway dev` / `npm start`: the Temporal dev server (or TEMPORAL_ADDRESS), the control worker
 * and one process per pool; prints where to look; stops everything on Ctrl-C.
 */
export async function runDev(opts: DevOptions = {}): Promise<void> {
  const settings = loadSettings();
  const say = (line: string) => process.stdout.write(`${line}\n`);
  mkdirSync(settings.dataDir, { recursive: true });
  say(settings.temporalAddress ? `Using Temporal at ${settings.temporalAddress}` : 'Starting the Temporal dev server...');
  const target = await ensureTemporal(settings, say);
  const logDir = join(settings.dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });

  const procs: WorkerProcess[] = [];
  const common = { address: target.address, namespace: target.namespace };
  const roles: WorkerRole[] = [{ role: 'control' }];
  if (opts.pools !== false) for (const p of catalog.pools) roles.push({ role: 'pool', group: p.group, lane: p.lane });
  for (const r of roles) procs.push(spawnWorker(r, { ...common, logFile: join(logDir, workerLogName(r)) }));
  await Promise.all(procs.map((p) => p.ready));

  say('');
  say(`Tideway is up.`);
  say(`  Temporal gRPC   ${target.address}  (namespace ${target.namespace})`);
  if (target.uiUrl) say(`  Temporal Web UI ${target.uiUrl}/namespaces/${target.namespace}/workflows`);
  say(`  Workers         ${procs.map((p) => `${p.label} (pid ${p.pid})`).join(', ')}`);
  say(`  Logs            ${logDir}${target.logFile ? `, ${target.logFile}` : ''}`);
  say('');
  say(`Try:  npx tideway submit demo.echo '{"hello":"world"}' --wait`);
  say('Press Ctrl-C to stop.');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`\n${signal}: stopping workers (in-flight tasks finish first)...`);
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
  common: { address: string; namespace: string },
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
