import { Connection } from '@temporalio/client';
import { InvalidArgumentError, type Command } from 'commander';
import { loadSettings } from '../../config/settings';
import { CONTROL_DEPLOYMENT, describeDeployment, setCurrentVersion, setRampingVersion } from '../../temporal/deployments';
import { printJson, table } from '../format';

async function withConnection<R>(fn: (c: Connection, namespace: string) => Promise<R>): Promise<R> {
  const s = loadSettings();
  const connection = await Connection.connect({ address: s.temporalAddress ?? `127.0.0.1:${s.temporalPort}` });
  try {
    return await fn(connection, s.namespace);
  } finally {
    await connection.close();
  }
}

function percent(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError('a percentage from 0 to 100');
  return n;
}

/** `tideway versions`: roll out control-worker builds with Temporal worker versioning. */
export function registerVersionCommands(program: Command): void {
  const versions = program
    .command('versions')
    .description(`show and roll out control-worker builds (Temporal Worker Deployment "${CONTROL_DEPLOYMENT}")`)
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
A control worker joins the deployment when started with TIDEWAY_BUILD_ID=<build>
(TIDEWAY_VERSIONING_BEHAVIOR=auto-upgrade|pinned, TIDEWAY_PROMOTE=1 to make it current at once).

Rollout:
  TIDEWAY_BUILD_ID=b2 node dist/workers/main.js control   # new build polls, gets nothing yet
  npx tideway versions promote b2 --ramp 10               # 10 % of new tasks go to b2
  npx tideway versions promote b2                         # all new tasks; auto-upgrade tasks move too
  npx tideway versions                                     # old build "draining" -> "drained": stop it`,
    )
    .action(async (o: { json?: boolean }) =>
      withConnection(async (c, ns) => {
        const d = await describeDeployment(c, ns);
        if (o.json) return printJson(d ?? null);
        if (!d) {
          process.stdout.write(`No control worker has polled with TIDEWAY_BUILD_ID yet: every worker is unversioned.\n`);
          return;
        }
        process.stdout.write(
          `current: ${d.currentBuildId ?? '(unversioned workers)'}` +
            (d.rampingBuildId ? `; ramping: ${d.rampingBuildId} at ${d.rampingPercentage} %` : '') +
            '\n',
        );
        process.stdout.write(`${table(d.versions.map((v) => ({ build: v.buildId, status: v.status, created: v.createdAt ?? '-' })))}\n`);
      }),
    );

  versions
    .command('promote <buildId>')
    .description('route new tasks to this build (or a share of them with --ramp)')
    .option('--ramp <percent>', 'send only this percentage of new tasks to the build', percent)
    .action(async (buildId: string, o: { ramp?: number }) =>
      withConnection(async (c, ns) => {
        if (o.ramp !== undefined && o.ramp < 100) {
          await setRampingVersion(c, ns, buildId, o.ramp);
          process.stdout.write(`build ${buildId} now gets ${o.ramp} % of new tasks\n`);
        } else {
          await setCurrentVersion(c, ns, buildId);
          process.stdout.write(`build ${buildId} is current: new tasks (and auto-upgrade tasks at their next step) run on it\n`);
        }
      }),
    );

  versions
    .command('unversioned')
    .description('route new tasks back to control workers started without TIDEWAY_BUILD_ID')
    .action(async () =>
      withConnection(async (c, ns) => {
        await setCurrentVersion(c, ns, undefined);
        process.stdout.write('new tasks go to unversioned control workers\n');
      }),
    );
}
