import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { z } from 'zod';
import { admissionCheckInUpdate, admissionLeaveUpdate } from '../config/messages';
import type { AdmissionSpec } from '../config/admission';
import type { Logger } from '../config/log';
import { ADMISSION_REGISTRY_WORKFLOW, type Lane } from '../config/names';
import type { LanePace } from './fair-gate';

/**
 * One process's side of a shared fixed budget: while the process is admitting, it checks in with
 * the admission registry workflow (update-with-start, so whichever process comes first starts it)
 * every third of its TTL and learns how many live processes share its budget; it leaves when idle
 * or closed, and a process that dies drops out after the TTL. The gate then paces each lane at
 * budget / members.
 */

export const ClusterShareOptionsSchema = z.object({
  /** The registry's workflow ID (one per app). */
  workflowId: z.string().min(1),
  /** The control queue, where the registry runs. */
  taskQueue: z.string().min(1),
  /** The budget as TIDEWAY_ADMISSION writes it: processes share only with those configured alike. */
  budget: z.string().min(1),
  /** A member counts this long after its last check-in. */
  ttlMs: z.number().int().min(1_000),
  /** The process leaves this long after its last admission (and rejoins on the next). */
  idleMs: z.number().int().min(0),
  /** Who this process is. @default host:pid:random */
  member: z.string().min(1).optional(),
});
export type ClusterShareOptions = z.input<typeof ClusterShareOptionsSchema>;

/** The registry's answer, checked at the edge (it crosses a process boundary). */
const answerSchema = z.object({ members: z.number().int().min(0), nextExpiryInMs: z.number().min(0).optional() });

/** A lane's pace when `members` processes share `spec` (burst split too, at least one each). */
export function shareOf(spec: AdmissionSpec, members: number): Partial<Record<Lane, LanePace>> {
  const n = Math.max(1, Math.floor(members));
  const out: Partial<Record<Lane, LanePace>> = {};
  for (const [lane, b] of Object.entries(spec) as [Lane, { perSecond: number; burst: number }][]) {
    out[lane] = { perSecond: b.perSecond / n, burst: Math.max(1, Math.floor(b.burst / n)) };
  }
  return out;
}

/**
 * When to check in next: every third of the TTL, or sooner when another member is due to expire
 * before that (it may have died: its share comes back within its TTL, not a check-in later).
 */
export function nextCheckInMs(ttlMs: number, nextExpiryInMs: number | undefined): number {
  const interval = ttlMs / 3;
  if (nextExpiryInMs === undefined || nextExpiryInMs >= interval) return interval;
  return Math.max(100, nextExpiryInMs + 50);
}

export class ClusterShare {
  /** This process's name in the registry; each join adds `:<n>`, so a late leave never undoes a later join. */
  readonly member: string;
  private readonly o: z.infer<typeof ClusterShareOptionsSchema>;
  /** Live members sharing the budget, this process included (1 until the registry answered). */
  private count = 1;
  private joins = 0;
  /** The current membership: checking in until idle or closed. */
  private session: { joined: Promise<void> } | undefined;
  /** Memberships still running or leaving (close waits for them). */
  private readonly running = new Set<Promise<void>>();
  private lastUsed = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private failing = false;
  private closed = false;

  constructor(
    private readonly client: Client,
    opts: ClusterShareOptions,
    /** Called with the member count whenever it changes. */
    private readonly onMembers: (members: number) => void,
    private readonly log?: Logger,
  ) {
    this.o = ClusterShareOptionsSchema.parse(opts);
    this.member = opts.member ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  /** Live members sharing the budget as last heard (1 before the first answer, or while unreachable since start). */
  get members(): number {
    return this.count;
  }

  /**
   * Marks the budget in use. Joins the registry when this process is not a member, and then
   * resolves once the registry answered (or could not be reached: the last known share holds,
   * the whole budget before any answer), so the first start is already paced at its share.
   */
  use(): Promise<void> | undefined {
    if (this.closed) return undefined;
    this.lastUsed = Date.now();
    this.session ??= this.join();
    return this.session.joined;
  }

  /** Leaves the registry (best effort) and stops checking in. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await Promise.all([...this.running]);
  }

  private join(): { joined: Promise<void> } {
    const member = `${this.member}:${++this.joins}`;
    let firstDone!: () => void;
    const session = { joined: new Promise<void>((res) => (firstDone = res)) };
    const done = (async () => {
      let answered = false;
      try {
        while (!this.closed) {
          const r = await this.checkIn(member);
          answered ||= r.ok;
          firstDone();
          if (this.closed || Date.now() - this.lastUsed >= this.o.idleMs) break;
          await this.sleep(nextCheckInMs(this.o.ttlMs, r.nextExpiryInMs));
        }
      } finally {
        // From here a use() joins afresh (under a new name) while this membership leaves.
        if (this.session === session) this.session = undefined;
        firstDone();
        if (answered) await this.leave(member);
      }
    })();
    this.running.add(done);
    void done.finally(() => this.running.delete(done));
    return session;
  }

  /** One check-in: whether it was answered, and when the registry says to look again (undefined: on the usual beat). */
  private async checkIn(member: string): Promise<{ ok: boolean; nextExpiryInMs?: number | undefined }> {
    const start = new WithStartWorkflowOperation(ADMISSION_REGISTRY_WORKFLOW, {
      workflowId: this.o.workflowId,
      taskQueue: this.o.taskQueue,
      args: [],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    try {
      const raw = await this.client.withDeadline(Date.now() + this.rpcTimeoutMs(), () =>
        this.client.workflow.executeUpdateWithStart(admissionCheckInUpdate, {
          args: [{ member, budget: this.o.budget, ttlMs: this.o.ttlMs }],
          startWorkflowOperation: start,
        }),
      );
      const a = answerSchema.parse(raw);
      if (this.failing) this.log?.info({ event: 'admission:registry-back', members: a.members }, 'admission: registry reachable again');
      this.failing = false;
      this.setCount(Math.max(1, a.members));
      return { ok: true, nextExpiryInMs: a.nextExpiryInMs };
    } catch (err) {
      // Logged once per outage. The last known share holds meanwhile (the whole budget if none):
      // admission stays open rather than stopping every submit while the control worker is away.
      if (!this.failing) {
        this.log?.warn(
          { event: 'admission:registry-unreachable', err: (err as Error).message, members: this.count },
          'admission: cannot check in with the admission registry; keeping the last known share',
        );
      }
      this.failing = true;
      return { ok: false };
    }
  }

  private async leave(member: string): Promise<void> {
    try {
      await this.client.withDeadline(Date.now() + this.rpcTimeoutMs(), () =>
        this.client.workflow
          .getHandle(this.o.workflowId)
          .executeUpdate(admissionLeaveUpdate, { args: [{ member, budget: this.o.budget }] }),
      );
    } catch {
      // It drops out after its TTL anyway.
    }
  }

  private setCount(n: number): void {
    if (n === this.count) return;
    const previous = this.count;
    this.count = n;
    this.log?.info(
      { event: 'admission:share', members: n, previous, budget: this.o.budget, member: this.member },
      `admission: ${n} process(es) share the fixed budget ${this.o.budget}`,
    );
    this.onMembers(n);
  }

  /** A check-in must not outlast the beat it belongs to. */
  private rpcTimeoutMs(): number {
    return Math.max(1_000, this.o.ttlMs / 3);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((res) => {
      this.wake = () => {
        if (this.timer) clearTimeout(this.timer);
        this.timer = undefined;
        this.wake = undefined;
        res();
      };
      this.timer = setTimeout(() => this.wake?.(), ms);
      // A member's heartbeat is not what keeps a process alive.
      this.timer.unref();
    });
  }
}
