import type { Connection } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { TidewayError } from '../config/errors';

/**
 * Temporal Worker Deployments (worker versioning) for the control worker, the only Tideway worker
 * whose code must replay deterministically. Pool workers run activities only: a new handler build
 * rolls out by draining old replicas (SIGTERM), with nothing to replay.
 *
 * The SDK has no high-level client for these calls in 1.24, so this wraps the four gRPC methods we
 * use. Behaviour we rely on (server 1.29): a versioned worker registers its version on first poll;
 * new workflows go to the deployment's current version (or the ramping one for a share of starts);
 * AUTO_UPGRADE workflows move to the current version at their next workflow task, PINNED ones stay.
 */

/** Name of the deployment every versioned control worker joins. */
export const CONTROL_DEPLOYMENT = 'tideway-control';

/** The Worker Deployment of `app`'s control workers (`tideway-<app>-control`; none: `tideway-control`). */
export function controlDeployment(app?: string): string {
  return app ? `tideway-${app}-control` : CONTROL_DEPLOYMENT;
}

export class DeploymentError extends TidewayError {
  readonly type = 'DeploymentError';
}

export interface DeploymentVersionView {
  buildId: string;
  /** 'current', 'ramping', 'draining', 'drained', 'inactive' (registered, never current). */
  status: string;
  createdAt: string | undefined;
}

export interface DeploymentView {
  deploymentName: string;
  /** Build that new tasks go to; `undefined` = workers without versioning. */
  currentBuildId: string | undefined;
  rampingBuildId: string | undefined;
  rampingPercentage: number;
  versions: DeploymentVersionView[];
}

const STATUS = temporal.api.enums.v1.WorkerDeploymentVersionStatus;

function statusName(s: number | null | undefined): string {
  const name = s === null || s === undefined ? undefined : STATUS[s];
  return name ? name.replace('WORKER_DEPLOYMENT_VERSION_STATUS_', '').toLowerCase() : 'unknown';
}

/** Describes the deployment; `undefined` when no versioned worker has ever polled for it. */
export async function describeDeployment(
  connection: Connection,
  namespace: string,
  deploymentName = CONTROL_DEPLOYMENT,
): Promise<DeploymentView | undefined> {
  let res: temporal.api.workflowservice.v1.DescribeWorkerDeploymentResponse;
  try {
    res = await connection.workflowService.describeWorkerDeployment({ namespace, deploymentName });
  } catch (err) {
    if ((err as { code?: number }).code === 5 /* NOT_FOUND */) return undefined;
    throw err;
  }
  const info = res.workerDeploymentInfo;
  const routing = info?.routingConfig;
  return {
    deploymentName,
    currentBuildId: routing?.currentDeploymentVersion?.buildId || undefined,
    rampingBuildId: routing?.rampingDeploymentVersion?.buildId || undefined,
    rampingPercentage: routing?.rampingVersionPercentage ?? 0,
    versions: (info?.versionSummaries ?? []).map((v) => ({
      buildId: v.deploymentVersion?.buildId ?? '',
      status: statusName(v.status),
      createdAt: v.createTime ? new Date(tsToMs(v.createTime)).toISOString() : undefined,
    })),
  };
}

/**
 * Makes `buildId` the version new tasks go to; `undefined` routes new tasks to workers without
 * versioning again (the way back from versioning). Running AUTO_UPGRADE tasks follow at their next
 * workflow task.
 */
export async function setCurrentVersion(
  connection: Connection,
  namespace: string,
  buildId: string | undefined,
  deploymentName = CONTROL_DEPLOYMENT,
): Promise<void> {
  await call('set the current version', () =>
    connection.workflowService.setWorkerDeploymentCurrentVersion({
      namespace,
      deploymentName,
      buildId: buildId ?? '',
      identity: 'tideway',
    }),
  );
}

/** Sends `percentage` % of new tasks to `buildId` (0 stops the ramp); the rest go to the current version. */
export async function setRampingVersion(
  connection: Connection,
  namespace: string,
  buildId: string,
  percentage: number,
  deploymentName = CONTROL_DEPLOYMENT,
): Promise<void> {
  if (!(percentage >= 0 && percentage <= 100)) throw new DeploymentError(`ramp percentage must be 0..100, got ${percentage}`);
  await call('set the ramping version', () =>
    connection.workflowService.setWorkerDeploymentRampingVersion({
      namespace,
      deploymentName,
      buildId: percentage === 0 ? '' : buildId,
      percentage,
      identity: 'tideway',
    }),
  );
}

async function call<R>(what: string, fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (err) {
    const msg = (err as Error).message;
    const hint = /not found|no pollers|has not been registered/i.test(msg)
      ? ' Start a control worker with TIDEWAY_BUILD_ID=<build> first: a version exists once its worker has polled.'
      : '';
    throw new DeploymentError(`could not ${what}: ${msg}.${hint}`);
  }
}
