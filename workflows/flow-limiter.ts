import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import {
  acquirePermitSignal,
  acquirePermitUpdate,
  FLOW_LAZY_RELEASE_PATCH,
  LAZY_MIN_LIMIT,
  LAZY_SHARE,
  START_GRACE_MS,
  flowStateQuery,
  permitAnswerSignal,
  reclaimPermitSignal,
  releasePermitSignal,
  type HeldPermit,
  type FlowLimiterInput,
  type PermitReply,
  type PermitRequest,
} from '../config/flow';

/** A limiter with nothing held, queued or in its window completes after this long (a new request starts it again). */
const IDLE_MS = 60_000;
/**
 * While tasks wait on a full semaphore, its holders are probed this often (their grant signal again,
 * which a live task ignores): a holder that is gone (terminated) fails the signal and loses its permit.
 */
const PROBE_MS = 30_000;
/** Continue as new before the history grows long (each grant and release is a few events). */
const MAX_HISTORY_EVENTS = 4_000;

/**
 * Continue as new before the server's cap on updates per run (`history.maxTotalUpdates`, 2,000) is
 * near: past it, requests would all fall back to signals.
 */
const MAX_UPDATES_PER_RUN = 1_500;

/**
 * Lazy release (config/flow.ts `PermitReclaim`): permits of tasks that completed without giving
 * them back are taken back when the held count reaches this share of the limit, before anyone has
 * to wait. A live holder asked without contention is not asked again for RECLAIM_AGAIN_MS.
 */
const RECLAIM_AT = 0.8;
const RECLAIM_AGAIN_MS = 2_000;

/**
 * One limiter per (kind, task type, key), reached by tasks through update-with-start (or
 * signal-with-start): a durable semaphore (`concurrency`: at most `limit` permits held at once, each
 * held by a task's workflow until it releases it) or a sliding-window rate limiter (`rate`: at most
 * `limit` grants per `perMs`). Every request is answered (granted, queued with its place, or
 * dropped) in the update's result, or by signal when it came as a signal; queued ones are granted by
 * lane priority, then first come first served, and told so by signal. Permits belong to workflows,
 * not to worker processes: a pool dying mid-attempt loses no permit and frees none (the task still
 * holds it while Temporal retries the attempt).
 */
export async function flowLimiter(input: FlowLimiterInput): Promise<void> {
  const { kind, type, key } = input;
  const limiterId = workflowInfo().workflowId;
  let limit = input.limit;
  let perMs = input.perMs;
  const held = new Map<string, HeldPermit>();
  /** When each holder was last asked to give its permit back (not carried across continue-as-new). */
  const askedAt = new Map<string, number>();
  let reclaim: 'none' | 'room' | 'contended' = 'none';
  let activity = 0;
  for (const h of input.held ?? []) held.set(h.holder, h);
  const waiting = [...(input.waiting ?? [])];
  let grants = [...(input.grants ?? [])];
  let dirty = true;
  const inflight = new Set<Promise<void>>();
  let updates = 0;

  const windowStart = (): number => Date.now() - (perMs ?? 0);
  // Rate limiters in `queue` mode pace their grants evenly (one per perMs/limit: 120 tasks at 60/min
  // take 2 minutes); in `drop` mode a burst up to `limit` passes and the rest of the window drops.
  let paced = true;
  const lastGrant = (): number => grants[grants.length - 1] ?? Number.NEGATIVE_INFINITY;
  const nextPacedAt = (): number => lastGrant() + (perMs ?? 0) / limit;
  const hasRoom = (): boolean => running() < limit && (kind === 'concurrency' || !paced || Date.now() >= nextPacedAt());
  const running = (): number => {
    if (kind === 'concurrency') return held.size;
    const from = windowStart();
    grants = grants.filter((t) => t > from);
    return grants.length;
  };

  /**
   * A signal to `holder` failed: its task is closed, so its permit comes back. Unless the permit was
   * granted at submit less than START_GRACE_MS ago: that task may not have started yet (it is asked
   * again later).
   */
  const takeBack = (holder: string, seq: number): void => {
    const h = held.get(holder);
    askedAt.delete(holder);
    dirty = true;
    if (!h || h.seq !== seq) return;
    if (h.atSubmit && Date.now() - h.at < START_GRACE_MS) {
      delete h.told;
      return;
    }
    held.delete(holder);
  };

  /** Tells a task the answer to its request; a task that is gone gives its permit back. */
  const notify = (holder: string, seq: number, reply: PermitReply): void => {
    const p = getExternalWorkflowHandle(holder)
      .signal(permitAnswerSignal, { ...reply, limiterId, seq })
      .catch((err: unknown) => {
        log.warn('granted task is gone; permit returned', { holder, error: String(err) });
        takeBack(holder, seq);
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  /**
   * Asks holders for their permits back: a closed task cannot take the signal, so its permit is
   * freed (a task that completed leaves its permit to this when it was granted without
   * contention); a live one gives it back as soon as its schedule ended (at once if it already
   * has) when others wait. Each holder is asked once under contention; without, again after
   * RECLAIM_AGAIN_MS at the soonest.
   */
  const reclaimPermits = (contended: boolean): void => {
    for (const h of held.values()) {
      if (h.told) continue;
      const last = askedAt.get(h.holder);
      if (!contended && last !== undefined && Date.now() - last < RECLAIM_AGAIN_MS) continue;
      askedAt.set(h.holder, Date.now());
      if (contended) h.told = true;
      const { holder, seq } = h;
      const p = getExternalWorkflowHandle(holder)
        .signal(reclaimPermitSignal, { limiterId, seq, contended })
        .catch(() => takeBack(holder, seq))
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
  };
  const roomLow = (): boolean => kind === 'concurrency' && held.size >= Math.max(1, Math.ceil(limit * RECLAIM_AT));

  /** Grants queued requests while there is room: lowest priority key first, then oldest. */
  const pump = (): void => {
    while (waiting.length > 0 && hasRoom()) {
      let best = 0;
      for (let i = 1; i < waiting.length; i++) {
        const w = waiting[i]!;
        const b = waiting[best]!;
        if (w.priority < b.priority || (w.priority === b.priority && w.at < b.at)) best = i;
      }
      const [w] = waiting.splice(best, 1);
      // Granted after a wait: others may wait too, so this one is given back as soon as it ends.
      if (kind === 'concurrency') held.set(w!.holder, { holder: w!.holder, seq: w!.seq, at: Date.now(), told: true });
      else grants.push(Date.now());
      notify(w!.holder, w!.seq, { outcome: 'granted', running: running(), limit, releaseAtEnd: true });
    }
  };

  const answer = (req: PermitRequest): PermitReply => {
    limit = req.limit;
    if (req.perMs !== undefined) perMs = req.perMs;
    paced = req.mode !== 'drop';
    // A retried request (the asking activity ran twice) gets the same answer again.
    const mine = held.get(req.holder);
    if (mine && mine.seq === req.seq)
      return { outcome: 'granted', running: held.size, limit, ...(mine.told ? { releaseAtEnd: true } : {}) };
    // A submit of a task that already holds a permit (a duplicate): that permit stays as it is.
    if (mine && req.atSubmit) return { outcome: 'granted', running: held.size, limit, ...(mine.told ? { releaseAtEnd: true } : {}) };
    const queuedAt = waiting.findIndex((w) => w.holder === req.holder && w.seq === req.seq);
    if (queuedAt >= 0) return { outcome: 'queued', position: queuedAt + 1, running: running(), limit };
    // At submit, only a free permit is given: a task that must wait asks from its own workflow
    // (whose grant signal then has somewhere to go). Permits of closed tasks are taken back meanwhile.
    if (req.atSubmit && kind === 'concurrency' && !(waiting.length === 0 && hasRoom())) {
      reclaim = 'contended';
      return { outcome: 'queued', position: waiting.length + 1, running: running(), limit };
    }
    // An older permit of the same task (a release that never arrived) is replaced, never doubled.
    if (mine) held.delete(req.holder);
    const now = running();
    if (waiting.length === 0 && hasRoom()) {
      if (kind === 'rate') {
        grants.push(Date.now());
        return { outcome: 'granted', running: now + 1, limit, fresh: true };
      }
      // Lazy release only with room to spare (a wide limit, under LAZY_SHARE of it held); otherwise
      // the permit is given back at its end.
      const lazy = limit >= LAZY_MIN_LIMIT && held.size + 1 <= limit * LAZY_SHARE;
      const at = Date.now();
      held.set(req.holder, {
        holder: req.holder,
        seq: req.seq,
        at,
        ...(lazy ? {} : { told: true }),
        ...(req.atSubmit ? { atSubmit: true } : {}),
      });
      if (roomLow() && reclaim === 'none') reclaim = 'room';
      return {
        outcome: 'granted',
        running: now + 1,
        limit,
        fresh: true,
        ...(lazy ? {} : { releaseAtEnd: true }),
        ...(req.atSubmit ? { at } : {}),
      };
    }
    if (kind === 'rate' && req.mode === 'drop') return { outcome: 'dropped', running: now, limit };
    waiting.push({ holder: req.holder, seq: req.seq, priority: req.priority, at: Date.now() });
    if (kind === 'concurrency') reclaim = 'contended';
    return { outcome: 'queued', position: waiting.length, running: now, limit, fresh: true };
  };
  const valid = (req: PermitRequest | undefined): req is PermitRequest =>
    typeof req?.holder === 'string' && Number.isInteger(req.seq) && Number.isInteger(req.limit) && req.limit >= 1;
  setHandler(acquirePermitSignal, (req) => {
    if (!valid(req)) {
      log.warn('bad permit request ignored', { req });
      return;
    }
    dirty = true;
    notify(req.holder, req.seq, answer(req));
  });
  // The same request as an update: the answer goes back in the call, so a free permit costs the
  // task no signal (and this limiter no signal-external command). A queued request's grant still
  // comes by signal, from pump().
  setHandler(
    acquirePermitUpdate,
    (req) => {
      dirty = true;
      updates += 1;
      return answer(req);
    },
    {
      validator: (req) => {
        if (!valid(req)) throw new Error('bad permit request: holder, seq and a limit ≥ 1 are required');
      },
    },
  );
  setHandler(releasePermitSignal, ({ holder, seq }) => {
    dirty = true;
    const h = held.get(holder);
    if (h && h.seq <= seq) held.delete(holder);
    const i = waiting.findIndex((w) => w.holder === holder && w.seq <= seq);
    if (i >= 0) waiting.splice(i, 1);
  });
  setHandler(flowStateQuery, () => ({
    kind,
    type,
    key,
    limit,
    ...(perMs !== undefined ? { perMs } : {}),
    running: running(),
    holders: [...held.keys()],
    waiting: waiting.length,
  }));

  // A quiet limiter still counting permits of completed tasks (lazy release) asks its holders once
  // a minute, so those permits come back and it can go idle. One timer a minute, not one per request.
  if (kind === 'concurrency' && patched(FLOW_LAZY_RELEASE_PATCH)) {
    void (async () => {
      for (;;) {
        const seen = activity;
        await sleep(IDLE_MS);
        if (seen === activity && held.size > 0 && waiting.length === 0) {
          reclaimPermits(false);
          dirty = true;
        }
      }
    })();
  }

  for (;;) {
    if (dirty) {
      dirty = false;
      activity += 1;
      pump();
      if (reclaim !== 'none') {
        reclaimPermits(reclaim === 'contended' || waiting.length > 0);
        reclaim = 'none';
      }
    }
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > MAX_HISTORY_EVENTS || updates > MAX_UPDATES_PER_RUN) break;
    const idle = held.size === 0 && waiting.length === 0 && running() === 0 && inflight.size === 0;
    // A rate limiter wakes when its oldest grant leaves the window (a waiter may go, or it may idle).
    let windowMoves: number | undefined;
    if (kind === 'rate' && grants.length > 0) {
      const oldestLeaves = grants[0]! + (perMs ?? 0);
      const at = waiting.length > 0 && paced && running() < limit ? nextPacedAt() : oldestLeaves;
      windowMoves = Math.max(1, Math.ceil(at - Date.now()) + 1);
    }
    const full = kind === 'concurrency' && waiting.length > 0 && held.size >= limit;
    const timeout = windowMoves ?? (idle ? IDLE_MS : full ? PROBE_MS : undefined);
    const woke = timeout === undefined ? (await condition(() => dirty), true) : await condition(() => dirty, timeout);
    if (!woke && full) for (const h of held.values()) notify(h.holder, h.seq, { outcome: 'granted', running: held.size, limit });
    if (!woke && idle && windowMoves === undefined) {
      // Nothing happened for IDLE_MS: complete (the next request starts a fresh run).
      await condition(allHandlersFinished);
      if (!dirty) return;
    }
    dirty = true;
  }
  // Grant signals in flight are finished first: their failure handling may return a permit.
  while (inflight.size > 0) await Promise.all([...inflight]);
  await condition(allHandlersFinished);
  pump();
  while (inflight.size > 0) await Promise.all([...inflight]);
  await continueAsNew<typeof flowLimiter>({
    kind,
    type,
    key,
    limit,
    ...(perMs !== undefined ? { perMs } : {}),
    held: [...held.values()],
    waiting,
    grants: kind === 'rate' ? grants.filter((t) => t > windowStart()) : [],
  });
}
