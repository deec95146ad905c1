import type { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import { ActuatorError } from '../errors';
import type { ScaledPool } from '../types';
import type { Actuator } from './actuator';

export interface KubernetesActuatorOptions {
  /** Namespace of the pool Deployments. @default 'default' */
  namespace?: string;
  /** Deployment name per pool; `{group}` and `{lane}` are replaced. @default 'tideway-pool-{group}-{lane}' */
  deploymentName?: string;
  /** A loaded KubeConfig; by default the in-cluster config or ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** Field manager recorded on every patch. @default 'tideway-scaler' */
  fieldManager?: string;
}

/** The Deployment a pool maps to. */
export function deploymentNameFor(pool: Pick<ScaledPool, 'group' | 'lane'>, template = 'tideway-pool-{group}-{lane}'): string {
  return template.replaceAll('{group}', pool.group).replaceAll('{lane}', pool.lane);
}

/**
 * Kubernetes actuator: reads and merge-patches the `scale` subresource of one Deployment per pool
 * (`PATCH /apis/apps/v1/namespaces/<ns>/deployments/<name>/scale`). It needs RBAC for
 * `deployments/scale` get+patch only (see deploy/kubernetes/scaler.yaml). The scaler never
 * touches pods, so when it dies the Deployments keep their replicas.
 */
export class KubernetesActuator implements Actuator {
  readonly type = 'kubernetes' as const;
  private api: AppsV1Api | undefined;
  // @kubernetes/client-node 1.x is an ES module; loading it lazily keeps the other actuators free of it.
  private k8s: typeof import('@kubernetes/client-node') | undefined;

  constructor(private readonly opts: KubernetesActuatorOptions = {}) {}

  private async client(): Promise<{ api: AppsV1Api; k8s: typeof import('@kubernetes/client-node') }> {
    if (!this.api || !this.k8s) {
      this.k8s = await import('@kubernetes/client-node');
      let kc = this.opts.kubeConfig;
      if (!kc) {
        kc = new this.k8s.KubeConfig();
        kc.loadFromDefault();
      }
      this.api = kc.makeApiClient(this.k8s.AppsV1Api);
    }
    return { api: this.api, k8s: this.k8s };
  }

  private get namespace(): string {
    return this.opts.namespace ?? 'default';
  }

  async replicas(pool: ScaledPool): Promise<number> {
    const { api } = await this.client();
    const name = deploymentNameFor(pool, this.opts.deploymentName);
    try {
      const scale = await api.readNamespacedDeploymentScale({ name, namespace: this.namespace });
      return scale.spec?.replicas ?? 0;
    } catch (err) {
      throw new ActuatorError('kubernetes', pool.key, `reading ${this.namespace}/${name} scale failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async scale(pool: ScaledPool, replicas: number): Promise<void> {
    const { api, k8s } = await this.client();
    const name = deploymentNameFor(pool, this.opts.deploymentName);
    try {
      await api.patchNamespacedDeploymentScale(
        { name, namespace: this.namespace, body: { spec: { replicas } }, fieldManager: this.opts.fieldManager ?? 'tideway-scaler' },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    } catch (err) {
      throw new ActuatorError(
        'kubernetes',
        pool.key,
        `patching ${this.namespace}/${name} scale to ${replicas} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async close(): Promise<void> {}
}
