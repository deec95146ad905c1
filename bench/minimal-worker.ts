import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import * as activities from './minimal/activities';
import { MINIMAL_ACTIVITY_QUEUE, MINIMAL_WORKFLOW_QUEUE } from './minimal/names';

/**
 * One process of the minimal Temporal baseline: `node dist/bench/minimal-worker.js <address>
 * <namespace> workflow|activity`. Like Tideway's control and pool processes, the workflow and the
 * activity run in two processes on two queues; the activity worker has the demo pool's 20 slots.
 * Prints "ready" once it polls.
 */
async function main(): Promise<void> {
  const [address, namespace, role] = process.argv.slice(2);
  if (!address || !namespace || (role !== 'workflow' && role !== 'activity'))
    throw new Error('usage: minimal-worker <address> <namespace> workflow|activity');
  // Warnings only, like Tideway's bench workers (TIDEWAY_LOG_LEVEL=warn).
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address });
  const worker =
    role === 'workflow'
      ? await Worker.create({
          connection,
          namespace,
          taskQueue: MINIMAL_WORKFLOW_QUEUE,
          workflowsPath: require.resolve('./minimal/workflows'),
        })
      : await Worker.create({
          connection,
          namespace,
          taskQueue: MINIMAL_ACTIVITY_QUEUE,
          activities,
          maxConcurrentActivityTaskExecutions: 20,
        });
  process.once('SIGTERM', () => worker.shutdown());
  const running = worker.run();
  process.stdout.write('ready\n');
  await running;
  await connection.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
