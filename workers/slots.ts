import type {
  ActivitySlotInfo,
  CustomSlotSupplier,
  SlotMarkUsedContext,
  SlotPermit,
  SlotReleaseContext,
  SlotReserveContext,
} from '@temporalio/worker';

/** The permit this supplier hands out; core passes it back on mark-used and release. */
interface Permit extends SlotPermit {
  readonly id: number;
}

/** Counts a pool process exposes as metrics and on /healthz. */
export interface SlotSnapshot {
  /** Permits the supplier may have out at once (the AIMD limit). */
  limit: number;
  /** Permits out: held by running tasks or by pollers waiting for a task. */
  issued: number;
  /** Permits in use by a running task. */
  used: number;
  /** Reservations blocked because `issued >= limit`. */
  waiting: number;
}

interface Waiter {
  resolve(p: Permit): void;
  reject(reason: unknown): void;
  signal: AbortSignal;
  onAbort(): void;
}

/**
 * Activity slot supplier with a limit that can change at run time. Core reserves a slot before it
 * polls, so while `issued >= limit` the worker does not even ask the server for a task it could not
 * start. Lowering the limit does not revoke permits already out: running tasks finish, and the
 * surplus drains as they release.
 */
export class AdaptiveSlotSupplier implements CustomSlotSupplier<ActivitySlotInfo> {
  readonly type = 'custom' as const;
  private current: number;
  private issuedIds = new Set<number>();
  private usedIds = new Set<number>();
  private waiters: Waiter[] = [];
  private nextId = 1;

  constructor(limit: number) {
    this.current = checkLimit(limit);
    // Core calls these detached from the object.
    this.reserveSlot = this.reserveSlot.bind(this);
    this.tryReserveSlot = this.tryReserveSlot.bind(this);
    this.markSlotUsed = this.markSlotUsed.bind(this);
    this.releaseSlot = this.releaseSlot.bind(this);
  }

  get limit(): number {
    return this.current;
  }

  /** Changes the limit; raising it hands permits to blocked reservations at once. */
  setLimit(limit: number): void {
    this.current = checkLimit(limit);
    this.grant();
  }

  snapshot(): SlotSnapshot {
    return { limit: this.current, issued: this.issuedIds.size, used: this.usedIds.size, waiting: this.waiters.length };
  }

  reserveSlot(_ctx: SlotReserveContext, abortSignal: AbortSignal): Promise<SlotPermit> {
    const now = this.tryIssue();
    if (now) return Promise.resolve(now);
    if (abortSignal.aborted) return Promise.reject(abortSignal.reason);
    return new Promise<SlotPermit>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal: abortSignal,
        onAbort: () => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          // The bridge expects exactly the signal's reason back; anything else is logged as an error.
          reject(abortSignal.reason);
        },
      };
      abortSignal.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  tryReserveSlot(_ctx: SlotReserveContext): SlotPermit | null {
    // Waiters were first in line; an eager reservation must not overtake them.
    return this.waiters.length > 0 ? null : this.tryIssue();
  }

  markSlotUsed(ctx: SlotMarkUsedContext<ActivitySlotInfo>): void {
    const id = (ctx.permit as Partial<Permit>).id;
    if (id !== undefined && this.issuedIds.has(id)) this.usedIds.add(id);
  }

  releaseSlot(ctx: SlotReleaseContext<ActivitySlotInfo>): void {
    const id = (ctx.permit as Partial<Permit>).id;
    if (id === undefined || !this.issuedIds.delete(id)) return;
    this.usedIds.delete(id);
    this.grant();
  }

  private tryIssue(): Permit | null {
    if (this.issuedIds.size >= this.current) return null;
    const permit: Permit = { id: this.nextId++ };
    this.issuedIds.add(permit.id);
    return permit;
  }

  private grant(): void {
    while (this.waiters.length > 0 && this.issuedIds.size < this.current) {
      const w = this.waiters.shift()!;
      w.signal.removeEventListener('abort', w.onAbort);
      w.resolve(this.tryIssue()!);
    }
  }
}

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`slot limit must be an integer >= 1, got ${limit}`);
  return limit;
}
