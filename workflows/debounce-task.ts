import { condition, continueAsNew, proxyLocalActivities, setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
// Types only: workflow code never loads the catalog.
import type { DebounceActivities } from '../activities/debounce';
import type { DebounceSpec } from '../config/debounce';
import { debounceSubmitSignal, debounceViewQuery, type DebouncedSubmit, type DebounceView } from '../config/messages';

/** Most submits one window keeps (with `collect`, the run's input); the 1,000th closes the window early. */
const MAX_SUBMITS = 1_000;

/** The argument of `debounceTask`, set by the submit that opened the collector (signal-with-start). */
export interface DebounceArgs {
  type: string;
  spec: DebounceSpec;
  /** This window's task ID. */
  windowId: string;
  /** Submits carried over from the previous window's run (they arrived after it closed). */
  carried?: DebouncedSubmit[];
}

/** What a window's collector returns once its run is started. */
export interface DebounceResult {
  windowId: string;
  submits: number;
  /** False when the run's ID was taken already (a retried start): nothing new started. */
  started: boolean;
}

const { startDebounced } = proxyLocalActivities<DebounceActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 10, initialInterval: '500ms' },
});

/**
 * One debounce window of (tenant, type, key): collects submits (signal `tideway.debounceSubmit`,
 * sent with signal-with-start), waits until `period` passes with no new submit or `maxWait` has
 * passed since the first, then starts the window's task as an ordinary `runTask` with the last input
 * (or all of them with `collect`). Submits that arrive after the window closed open the next
 * window: this run continues as new with them, so none is lost and the collector's ID stays the
 * signal-with-start target.
 */
export async function debounceTask(args: DebounceArgs): Promise<DebounceResult> {
  const { spec } = args;
  const submits: DebouncedSubmit[] = [];
  const late: DebouncedSubmit[] = [];
  let firstAt: number | undefined;
  let lastAt: number | undefined;
  let closed = false;
  // The next window's ID: the same prefix, a fresh suffix (uuid4 is deterministic in workflows).
  const prefix = args.windowId.slice(0, args.windowId.lastIndexOf(':') + 1);
  const nextWindowId = `${prefix}${uuid4().slice(0, 8)}`;

  const take = (s: DebouncedSubmit): void => {
    if (closed) {
      late.push(s);
      return;
    }
    submits.push(s);
    firstAt ??= Date.now();
    lastAt = Date.now();
  };
  for (const s of args.carried ?? []) take(s);
  setHandler(debounceSubmitSignal, take);
  setHandler(debounceViewQuery, (submitId?: string): DebounceView => {
    const latest = firstAt !== undefined ? firstAt + spec.maxWaitMs : undefined;
    const starts = lastAt !== undefined && latest !== undefined ? Math.min(lastAt + spec.periodMs, latest) : undefined;
    const where =
      submitId === undefined
        ? undefined
        : submits.some((s) => s.submitId === submitId)
          ? args.windowId
          : late.some((s) => s.submitId === submitId)
            ? nextWindowId
            : undefined;
    return {
      windowId: args.windowId,
      nextWindowId,
      key: spec.key,
      submits: submits.length,
      ...(firstAt !== undefined ? { firstAt: new Date(firstAt).toISOString() } : {}),
      ...(lastAt !== undefined ? { lastAt: new Date(lastAt).toISOString() } : {}),
      ...(starts !== undefined ? { startsAt: new Date(starts).toISOString() } : {}),
      ...(latest !== undefined ? { latestAt: new Date(latest).toISOString() } : {}),
      phase: closed ? 'starting' : 'collecting',
      nextSubmits: late.length,
      ...(where !== undefined ? { windowOfSubmit: where } : {}),
    };
  });

  // Started by signal-with-start, so the first submit is in the first workflow task.
  await condition(() => submits.length > 0);
  for (;;) {
    const left = firstAt! + spec.maxWaitMs - Date.now();
    if (left <= 0 || submits.length >= MAX_SUBMITS) break;
    const seen = submits.length;
    // A whole period from now, not from `lastAt`: workflow time is the workflow task's start, which
    // may precede the signal's arrival, and the timer only starts once this task completes, so the
    // quiet a submitter sees is never shorter than the period.
    const quiet = !(await condition(() => submits.length !== seen, Math.min(spec.periodMs, left)));
    if (quiet && spec.periodMs <= left) break;
  }
  closed = true;
  const started = await startDebounced({
    windowId: args.windowId,
    collect: spec.collect,
    key: spec.key,
    submits,
    collectorId: workflowInfo().workflowId,
  });
  if (late.length > 0) {
    await continueAsNew<typeof debounceTask>({ type: args.type, spec, windowId: nextWindowId, carried: late });
  }
  return { windowId: args.windowId, submits: submits.length, started };
}
