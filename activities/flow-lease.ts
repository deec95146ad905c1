import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Client } from '@temporalio/client';
import { Runtime } from '@temporalio/worker';
import { leaseCap, leasePermitsUpdate, type AttemptPermit } from '../config/flow';
import { startLimiter } from './flow';

/** Permits a process asks to lease per key (the limiter grants at most 1/LEASE_SHARE of the limit). */
const LEASE_WANT = 16;
/** A lease unused this long is given back at its next renewal. */
const LEASE_IDLE_MS = 5_000;
/** Bounds of a lease's TTL (it follows the task type's heartbeat timeout within these). */
const LEASE_TTL_MIN_MS = 2_000;
const LEASE_TTL_MAX_MS = 10_000;

interface Lease {
  limiterId: string;
  permit: AttemptPermit;
  count: number;
  using: number;
  /** Local expiry: the renewal's send time plus its TTL (the limiter's own clock starts later). */
  until: number;
  ttlMs: number;
  lastUsed: number;
  renewing: boolean;
}

/**
 * A pool process's leases on concurrency keys: a key with room gives the process a few permits at
 * once, which its attempts take and give back in memory, with no round trip to the limiter each.
 * The process renews each lease every third of its TTL, saying how many run; one it no longer uses
 * goes back. If the process dies, so do its attempts, and the limiter drops the lease at its TTL
 * (at most the heartbeat timeout, when Temporal retries them elsewhere).
 *
 * What it gives up: leased permits are outside the limiter's queue order while no task waits (once
 * one does, a lease stops growing and shrinks to what runs, by the next renewal), and a process
 * cut off from the server may keep running attempts it started after the limiter dropped its
 * lease (the same as any activity cut off past its heartbeat timeout).
 */
export class PermitLeases {
  private readonly id = `lease:${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly leases = new Map<string, Lease>();

  /** The worker's client, from the first attempt that asked (renewals run outside any activity). */
  private client: Client | undefined;

  constructor(private readonly app: string | undefined) {}

  /**
   * Takes a leased permit of the key if this process holds a free one; otherwise returns false
   * (the attempt asks the limiter itself) and asks for a lease in the background.
   */
  take(client: Client, p: AttemptPermit, heartbeatMs: number | undefined): boolean {
    if (leaseCap(p.limit) < 1) return false; // too small a limit to lease
    this.client ??= client;
    const now = Date.now();
    let lease = this.leases.get(p.limiterId);
    if (!lease) {
      const ttlMs = Math.min(LEASE_TTL_MAX_MS, Math.max(LEASE_TTL_MIN_MS, heartbeatMs ?? LEASE_TTL_MAX_MS));
      lease = { limiterId: p.limiterId, permit: p, count: 0, using: 0, until: 0, ttlMs, lastUsed: now, renewing: false };
      this.leases.set(p.limiterId, lease);
      void this.renew(lease);
      return false;
    }
    lease.permit = p; // the latest limit
    lease.lastUsed = now;
    // Not while a renewal is out: the limiter keeps at least what ran when it was sent, no more.
    if (!lease.renewing && lease.using < lease.count && now < lease.until) {
      lease.using += 1;
      return true;
    }
    return false;
  }

  give(limiterId: string): void {
    const lease = this.leases.get(limiterId);
    if (!lease) return;
    lease.using = Math.max(0, lease.using - 1);
    lease.lastUsed = Date.now();
  }

  /** Permits held as leases now, per key (for tests and metrics). */
  held(): Record<string, { count: number; using: number }> {
    return Object.fromEntries([...this.leases.values()].map((l) => [l.limiterId, { count: l.count, using: l.using }]));
  }

  private async renew(lease: Lease): Promise<void> {
    if (lease.renewing) return;
    lease.renewing = true;
    const idle = lease.using === 0 && Date.now() - lease.lastUsed > LEASE_IDLE_MS;
    const sentAt = Date.now();
    try {
      const client = this.client!;
      const reply = await client.connection.withDeadline(sentAt + lease.ttlMs / 2, () =>
        client.workflow.executeUpdateWithStart(leasePermitsUpdate, {
          args: [{ holder: this.id, want: idle ? 0 : LEASE_WANT, using: lease.using, ttlMs: lease.ttlMs, limit: lease.permit.limit }],
          startWorkflowOperation: startLimiter(this.app, lease.limiterId, {
            kind: 'concurrency',
            type: lease.permit.type,
            key: lease.permit.key,
            limit: lease.permit.limit,
          }),
        }),
      );
      lease.count = reply.count;
      lease.until = sentAt + lease.ttlMs;
    } catch (err) {
      // Not renewed: the lease runs out at `until` (no new attempt takes it after that); try again.
      Runtime.instance().logger.info('permit lease not renewed', { limiterId: lease.limiterId, error: String(err) });
    } finally {
      lease.renewing = false;
    }
    if (idle && lease.count === 0 && lease.using === 0) {
      this.leases.delete(lease.limiterId);
      return;
    }
    setTimeout(() => void this.renew(lease), lease.ttlMs / 3).unref();
  }
}
