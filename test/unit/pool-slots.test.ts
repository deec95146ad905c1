import type { SlotPermit, SlotReserveContext } from '@temporalio/worker';
import { poolSettingsSchema } from '../../config/catalog-schema';
import { AdaptiveSlotSupplier } from '../../workers/slots';

const ctx: SlotReserveContext = {
  slotType: 'activity',
  taskQueue: 'tideway.demo.normal',
  workerIdentity: 'test',
  workerBuildId: '',
  isSticky: false,
};
const info = { type: 'activity' as const, activityType: 'executeTask' };

/** Resolves to 'pending' if the promise has not settled by the time queued microtasks ran. */
async function state<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
}

describe('AdaptiveSlotSupplier', () => {
  it('hands out at most `limit` permits and blocks the next reservation until one is released', async () => {
    const s = new AdaptiveSlotSupplier(2);
    const a = await s.reserveSlot(ctx, new AbortController().signal);
    const b = await s.reserveSlot(ctx, new AbortController().signal);
    const c = s.reserveSlot(ctx, new AbortController().signal);
    expect(await state(c)).toBe('pending');
    expect(s.snapshot()).toEqual({ limit: 2, issued: 2, used: 0, waiting: 1 });
    s.releaseSlot({ permit: a });
    expect(await state(c)).not.toBe('pending');
    expect(s.snapshot()).toMatchObject({ issued: 2, waiting: 0 });
    void b;
  });

  it('tracks used slots separately from reserved ones (pollers hold permits before a task arrives)', async () => {
    const s = new AdaptiveSlotSupplier(3);
    const a = await s.reserveSlot(ctx, new AbortController().signal);
    await s.reserveSlot(ctx, new AbortController().signal);
    s.markSlotUsed({ permit: a, slotInfo: info });
    expect(s.snapshot()).toMatchObject({ issued: 2, used: 1 });
    s.releaseSlot({ permit: a, slotInfo: info });
    expect(s.snapshot()).toMatchObject({ issued: 1, used: 0 });
  });

  it('lowering the limit revokes nothing but issues no more until running ones drop below it', async () => {
    const s = new AdaptiveSlotSupplier(4);
    const permits: SlotPermit[] = [];
    for (let i = 0; i < 4; i++) permits.push(await s.reserveSlot(ctx, new AbortController().signal));
    s.setLimit(2);
    expect(s.tryReserveSlot(ctx)).toBeNull();
    const next = s.reserveSlot(ctx, new AbortController().signal);
    s.releaseSlot({ permit: permits[0]! });
    s.releaseSlot({ permit: permits[1]! });
    expect(await state(next)).toBe('pending'); // 2 still out = the new limit
    s.releaseSlot({ permit: permits[2]! });
    expect(await state(next)).not.toBe('pending');
  });

  it('raising the limit wakes blocked reservations at once', async () => {
    const s = new AdaptiveSlotSupplier(1);
    await s.reserveSlot(ctx, new AbortController().signal);
    const w1 = s.reserveSlot(ctx, new AbortController().signal);
    const w2 = s.reserveSlot(ctx, new AbortController().signal);
    s.setLimit(3);
    expect(await state(w1)).not.toBe('pending');
    expect(await state(w2)).not.toBe('pending');
    expect(s.snapshot()).toMatchObject({ limit: 3, issued: 3, waiting: 0 });
  });

  it('an aborted reservation rejects with the signal reason and leaves no permit behind', async () => {
    const s = new AdaptiveSlotSupplier(1);
    await s.reserveSlot(ctx, new AbortController().signal);
    const ac = new AbortController();
    const p = s.reserveSlot(ctx, ac.signal);
    ac.abort(new Error('Request Cancelled'));
    await expect(p).rejects.toBe(ac.signal.reason);
    expect(s.snapshot()).toMatchObject({ issued: 1, waiting: 0 });
  });

  it('tryReserveSlot never overtakes a blocked reservation', async () => {
    const s = new AdaptiveSlotSupplier(1);
    const a = await s.reserveSlot(ctx, new AbortController().signal);
    const waiting = s.reserveSlot(ctx, new AbortController().signal);
    s.setLimit(1);
    expect(s.tryReserveSlot(ctx)).toBeNull();
    s.releaseSlot({ permit: a });
    expect(await state(waiting)).not.toBe('pending');
  });

  it('ignores releases of unknown or already released permits', async () => {
    const s = new AdaptiveSlotSupplier(1);
    const a = await s.reserveSlot(ctx, new AbortController().signal);
    s.releaseSlot({ permit: a });
    s.releaseSlot({ permit: a });
    s.releaseSlot({ permit: {} });
    expect(s.snapshot()).toMatchObject({ issued: 0 });
  });

  it('rejects limits below 1', () => {
    expect(() => new AdaptiveSlotSupplier(0)).toThrow(RangeError);
    expect(() => new AdaptiveSlotSupplier(2).setLimit(1.5)).toThrow(RangeError);
  });
});

describe('pool settings: drain and AIMD knobs', () => {
  it('fills defaults with durations in ms', () => {
    const p = poolSettingsSchema.parse({});
    expect(p.shutdownGrace).toBe(30_000);
    expect(p.aimd).toEqual({
      enabled: true,
      window: 5_000,
      minThrottled: 3,
      throttledRatio: 0.05,
      increaseInterval: 1_000,
      minConcurrency: 1,
    });
  });

  it('names the bad field', () => {
    const r = poolSettingsSchema.safeParse({ concurrency: 4, aimd: { minConcurrency: 8 } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['aimd', 'minConcurrency']);
    const r2 = poolSettingsSchema.safeParse({ shutdownGrace: 'soon' });
    expect(r2.error?.issues[0]?.path).toEqual(['shutdownGrace']);
  });
});
