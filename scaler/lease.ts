import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  acquireLeaseUpdate,
  leaseStateQuery,
  releaseLeaseUpdate,
  SCALER_LEASE_WORKFLOW,
  scalerLeaseId,
  type LeaseState,
} from '../config/lease';

export const ScalerLeaseOptionsSchema = z.object({
  /** The app (one lease per app). */
  app: z.string().optional(),
  /** The control queue, where the lease workflow runs. */
  taskQueue: z.string().min(1),
  /** Lease lifetime without renewal. */
  ttlMs: z.number().int().min(3_000),
  /** Who this scaler is. @default host:pid:random */
  holder: z.string().min(1).optional(),
});
export type ScalerLeaseOptions = z.input<typeof ScalerLeaseOptionsSchema>;

/**
 * A scaler's side of the lease (workflows/scaler-lease.ts): `acquire()` waits until this scaler holds
 * it, then renews it every third of its lifetime; `lost` resolves when a renewal is refused or none
 * has succeeded for a lifetime. The holder counts its lease from before each renewal request, so it
 * believes itself the holder no longer than the workflow does (clock rates assumed close).
 */
export class ScalerLease {
  readonly holder: string;
  readonly workflowId: string;
  private readonly o: z.infer<typeof ScalerLeaseOptionsSchema>;
  private stopped = false;
  private renewing: Promise<void> | undefined;
  private loseLease!: (reason: string) => void;
  /** Resolves with a reason when this scaler must stop acting. */
  readonly lost: Promise<string>;

  constructor(
    private readonly client: Client,
    opts: ScalerLeaseOptions,
    private readonly log?: Logger,
  ) {
    this.o = ScalerLeaseOptionsSchema.parse(opts);
    this.holder = this.o.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.workflowId = scalerLeaseId(this.o.app);
    this.lost = new Promise((res) => (this.loseLease = res));
  }

  private async request(): Promise<{ granted: boolean; state: LeaseState }> {
    // Starts the lease workflow if none runs (USE_EXISTING: every scaler may be first), then asks.
    const handle = await this.client.workflow.start(SCALER_LEASE_WORKFLOW, {
      workflowId: this.workflowId,
      taskQueue: this.o.taskQueue,
      args: [],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    return handle.executeUpdate(acquireLeaseUpdate, { args: [{ holder: this.holder, ttlMs: this.o.ttlMs }] });
  }

  /** Waits until this scaler holds the lease (standing by meanwhile), then keeps renewing it. */
  async acquire(): Promise<void> {
    let lastHolder: string | undefined;
    while (!this.stopped) {
      try {
        const a = await this.request();
        if (a.granted) {
          this.log?.info({ event: 'scaler:lease-acquired', holder: this.holder, handovers: a.state.handovers }, 'holding the scaler lease');
          this.renewing = this.renewLoop();
          return;
        }
        if (a.state.holder !== lastHolder) {
          lastHolder = a.state.holder;
          this.log?.info(
            { event: 'scaler:standby', holder: this.holder, activeHolder: a.state.holder },
            'standing by: another scaler holds the lease',
          );
        }
      } catch (err) {
        this.log?.warn({ event: 'scaler:lease-error', err: (err as Error).message }, 'lease request failed; retrying');
      }
      await sleep(this.o.ttlMs / 3);
    }
  }

  private async renewLoop(): Promise<void> {
    let validUntil = Date.now() + this.o.ttlMs;
    while (!this.stopped) {
      await sleep(this.o.ttlMs / 3);
      if (this.stopped) return;
      const sent = Date.now();
      try {
        const a = await this.request();
        if (!a.granted) return this.loseLease(`lease taken by ${a.state.holder ?? 'nobody'}`);
        validUntil = sent + this.o.ttlMs;
      } catch (err) {
        this.log?.warn({ event: 'scaler:lease-error', err: (err as Error).message }, 'lease renewal failed');
        // Stop acting before the workflow's timer can hand the lease to a standby.
        if (Date.now() > validUntil - this.o.ttlMs / 3) return this.loseLease('could not renew the lease in time');
      }
    }
  }

  /** Stops renewing and hands the lease back so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    await this.renewing?.catch(() => undefined);
    await this.client.workflow
      .getHandle(this.workflowId)
      .executeUpdate(releaseLeaseUpdate, { args: [{ holder: this.holder }] })
      .catch(() => undefined);
  }

  /** Who holds the lease now, per the workflow. */
  async state(): Promise<LeaseState> {
    return this.client.workflow.getHandle(this.workflowId).query(leaseStateQuery);
  }
}
