import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_TRACING_MODULE } from '../temporal/tracing';
import { WORKFLOW_BUNDLE_PATH, WORKFLOW_BUNDLE_TRACED_PATH } from './control';

const quiet = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: console.warn,
  error: console.error,
};

/**
 * Build step: bundles `workflows/` once so control workers start without webpack; twice in fact,
 * the second time with OpenTelemetry's workflow interceptors, which a control worker loads only
 * when tracing is on (so tracing off costs the workflows nothing).
 */
async function main(): Promise<void> {
  const workflowsPath = require.resolve('../workflows');
  writeFileSync(WORKFLOW_BUNDLE_PATH, (await bundleWorkflowCode({ workflowsPath, logger: quiet })).code);
  const traced = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules: [WORKFLOW_TRACING_MODULE], logger: quiet });
  writeFileSync(WORKFLOW_BUNDLE_TRACED_PATH, traced.code);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
