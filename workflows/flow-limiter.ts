import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  acquirePermitSignal,
  acquirePermitUpdate,
  flowStateQuery,
  leaseCap,
  leasePermitsUpdate,
  permitAnswerSignal,
  RATE_SCHEDULE_PATCH,
  releasePermitSignal,
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
/**
 * How far behind its schedule a paced limiter may catch up in one wake-up (timers fire about a
 * second late at worst): it bounds the burst after a late wake-up to this much of the limit.
 */
const CATCH_UP_MS = 2_000;
/** Continue as new before the history grows long (each grant and release is a few events). */
const MAX_HISTORY_EVENTS = 4_000;

/**
 * Continue as new before the server's cap on updates per run (`history.maxTotalUpdates`, 2,000) is
 * near: past it, requests would all fall back to signals.
 */
const MAX_UPDATES_PER_RUN = 1_500;

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
  const held = new Map<string, { holder: string; seq: number; at: number }>();
  for (const h of input.held ?? []) held.set(h.holder, h);
  // Pool processes' leases: permits counted as held until their `until` passes without a renewal.
  const leases = new Map<string, { holder: string; count: number; until: number }>();
  for (const l of input.leases ?? []) leases.set(l.holder, l);
  const leased = (): number => {
    let n = 0;
    for (const l of leases.values()) n += l.count;
    return n;
  };
  const dropExpired = (): void => {
    for (const [h, l] of leases) if (l.until <= Date.now()) leases.delete(h);
  };
  const waiting = [...(input.waiting ?? [])];
  let grants = [...(input.grants ?? [])];
  let dirty = true;
  const inflight = new Set<Promise<void>>();
  let updates = 0;

  const windowStart = (): number => Date.now() - (perMs ?? 0);
  // Rate limiters in `queue` mode pace their grants (one slot per perMs/limit: 120 tasks at 60/min
  // take 2 minutes); in `drop` mode a burst up to `limit` passes and the rest of the window drops.
  let paced = true;
  const lastGrant = (): number => grants[grants.length - 1] ?? Number.NEGATIVE_INFINITY;
  const spacing = (): number => (perMs ?? 0) / limit;
  // Paced on a schedule: `slot` is when the next grant is due. A direct grant (nobody waiting)
  // restarts the schedule from now; a queued one keeps to it, so a wake-up that comes late (timers
  // fire at about 1 s granularity) grants every slot already due, up to CATCH_UP_MS of them.
  const onSchedule = kind === 'rate' && patched(RATE_SCHEDULE_PATCH);
  let slot: number | undefined;
  const nextPacedAt = (): number => (onSchedule && slot !== undefined ? slot : lastGrant() + spacing());
  const grant = (queued: boolean): void => {
    const now = Date.now();
    if (onSchedule) slot = Math.max(nextPacedAt(), queued ? now - CATCH_UP_MS : now) + spacing();
    grants.push(now);
  };
  const hasRoom = (): boolean => running() < limit && (kind === 'concurrency' || !paced || Date.now() >= nextPacedAt());
  const running = (): number => {
    if (kind === 'concurrency') return held.size + leased();
    const from = windowStart();
    grants = grants.filter((t) => t > from);
    return grants.length;
  };

  /** Tells a task the answer to its request; a task that is gone gives its permit back. */
  const notify = (holder: string, seq: number, reply: PermitReply): void => {
    const p = getExternalWorkflowHandle(holder)
      .signal(permitAnswerSignal, { ...reply, limiterId, seq })
      .catch((err: unknown) => {
        log.warn('granted task is gone; permit returned', { holder, error: String(err) });
        const h = held.get(holder);
        if (h && h.seq === seq) held.delete(holder);
        dirty = true;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

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
      if (kind === 'concurrency') held.set(w!.holder, { holder: w!.holder, seq: w!.seq, at: Date.now() });
      else grant(true);
      notify(w!.holder, w!.seq, { outcome: 'granted', running: running(), limit });
    }
  };

  const answer = (req: PermitRequest): PermitReply => {
    limit = req.limit;
    if (req.perMs !== undefined) perMs = req.perMs;
    paced = req.mode !== 'drop';
    // A retried request (the asking activity ran twice) gets the same answer again.
    const mine = held.get(req.holder);
    if (mine && mine.seq === req.seq) return { outcome: 'granted', running: running(), limit };
    const queuedAt = waiting.findIndex((w) => w.holder === req.holder && w.seq === req.seq);
    if (queuedAt >= 0) return { outcome: 'queued', position: queuedAt + 1, running: running(), limit };
    // An older permit of the same task (a release that never arrived) is replaced, never doubled;
    // so is an older queued request (an attempt that died after asking): left queued, its grant
    // would go to a task no longer waiting for it, and such permits can fill the key for good.
    if (mine) held.delete(req.holder);
    for (let i = waiting.length - 1; i >= 0; i--) if (waiting[i]!.holder === req.holder && waiting[i]!.seq < req.seq) waiting.splice(i, 1);
    const now = running();
    if (waiting.length === 0 && hasRoom()) {
      if (kind === 'concurrency') held.set(req.holder, { holder: req.holder, seq: req.seq, at: Date.now() });
      else grant(false);
      return { outcome: 'granted', running: now + 1, limit };
    }
    if (kind === 'rate' && req.mode === 'drop') return { outcome: 'dropped', running: now, limit };
    waiting.push({ holder: req.holder, seq: req.seq, priority: req.priority, at: Date.now() });
    return { outcome: 'queued', position: waiting.length, running: now, limit };
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
  // A pool process's lease: grows while the key has room and nobody waits (at most 1/LEASE_SHARE of
  // the limit per process), shrinks to what it uses once tasks wait, and never takes back a permit
  // in use. A process that stops renewing loses the lease at `until` (it died: so did its attempts).
  setHandler(
    leasePermitsUpdate,
    (req) => {
      dirty = true;
      updates += 1;
      limit = req.limit;
      dropExpired();
      const cur = leases.get(req.holder)?.count ?? 0;
      const keep = Math.min(cur, req.using);
      const others = held.size + leased() - cur;
      const grow = waiting.length > 0 ? 0 : Math.min(req.want, leaseCap(limit), limit - others);
      const count = Math.max(keep, grow, 0);
      if (count === 0) leases.delete(req.holder);
      else leases.set(req.holder, { holder: req.holder, count, until: Date.now() + req.ttlMs });
      return { count };
    },
    {
      validator: (req) => {
        const ok =
          typeof req?.holder === 'string' &&
          [req.want, req.using, req.ttlMs, req.limit].every((n) => Number.isInteger(n) && n >= 0) &&
          req.limit >= 1 &&
          kind === 'concurrency';
        if (!ok) throw new Error('bad lease request: holder, want, using, ttlMs and a limit ≥ 1 are required (concurrency keys only)');
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
    ...(leases.size > 0 ? { leased: leased() } : {}),
  }));

  let probeAt: number | undefined;
  for (;;) {
    if (dirty) {
      dirty = false;
      pump();
    }
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > MAX_HISTORY_EVENTS || updates > MAX_UPDATES_PER_RUN) break;
    dropExpired();
    const idle = held.size === 0 && leases.size === 0 && waiting.length === 0 && running() === 0 && inflight.size === 0;
    // Wake when the next lease would expire (its permits go to the waiting, or the limiter idles).
    let leaseEnds: number | undefined;
    for (const l of leases.values()) leaseEnds = Math.min(leaseEnds ?? Infinity, Math.max(1, l.until - Date.now() + 1));
    // A rate limiter wakes when its oldest grant leaves the window (a waiter may go, or it may idle).
    let windowMoves: number | undefined;
    if (kind === 'rate' && grants.length > 0) {
      const oldestLeaves = grants[0]! + (perMs ?? 0);
      const at = waiting.length > 0 && paced && running() < limit ? nextPacedAt() : oldestLeaves;
      windowMoves = Math.max(1, Math.ceil(at - Date.now()) + 1);
    }
    const full = kind === 'concurrency' && waiting.length > 0 && running() >= limit;
    // Probes run every PROBE_MS while full, however often requests and renewals wake the loop.
    if (!full) probeAt = undefined;
    else probeAt ??= Date.now() + PROBE_MS;
    const base = windowMoves ?? (idle ? IDLE_MS : probeAt !== undefined ? Math.max(1, probeAt - Date.now()) : undefined);
    const timeout = leaseEnds === undefined ? base : Math.min(base ?? Infinity, leaseEnds);
    const woke = timeout === undefined ? (await condition(() => dirty), true) : await condition(() => dirty, timeout);
    const leaseWake = !woke && leaseEnds !== undefined && timeout === leaseEnds && leaseEnds !== base;
    if (probeAt !== undefined && Date.now() >= probeAt) {
      probeAt = undefined;
      for (const h of held.values()) notify(h.holder, h.seq, { outcome: 'granted', running: running(), limit });
    }
    if (!woke && idle && windowMoves === undefined && !leaseWake) {
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
    ...(leases.size > 0 ? { leases: [...leases.values()] } : {}),
    grants: kind === 'rate' ? grants.filter((t) => t > windowStart()) : [],
  });
}
