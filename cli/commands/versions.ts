import type { Connection } from '@temporalio/client';
import { InvalidArgumentError, type Command } from 'commander';
import { controlDeployment, describeDeployment, setCurrentVersion, setRampingVersion } from '../../temporal/deployments';
import { printJson, table } from '../format';
import { withTemporal } from '../project';

/** Runs `fn` against the project's namespace and its app's control deployment. */
async function withConnection<R>(fn: (c: Connection, namespace: string, deployment: string) => Promise<R>): Promise<R> {
  return withTemporal(({ connection, project }) => fn(connection, project.settings.namespace, controlDeployment(project.catalog.app)));
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
    .description(`show and roll out control-worker builds (Temporal Worker Deployment "tideway[-<app>]-control")`)
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
      withConnection(async (c, ns, dep) => {
        const d = await describeDeployment(c, ns, dep);
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
      withConnection(async (c, ns, dep) => {
        if (o.ramp !== undefined && o.ramp < 100) {
          await setRampingVersion(c, ns, buildId, o.ramp, dep);
          process.stdout.write(`build ${buildId} now gets ${o.ramp} % of new tasks\n`);
        } else {
          await setCurrentVersion(c, ns, buildId, dep);
          process.stdout.write(`build ${buildId} is current: new tasks (and auto-upgrade tasks at their next step) run on it\n`);
        }
      }),
    );

  versions
    .command('unversioned')
    .description('route new tasks back to control workers started without TIDEWAY_BUILD_ID')
    .action(async () =>
      withConnection(async (c, ns, dep) => {
        await setCurrentVersion(c, ns, undefined, dep);
        process.stdout.write('new tasks go to unversioned control workers\n');
      }),
    );
}
