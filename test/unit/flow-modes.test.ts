import { defineCatalog } from '../../config/catalog-schema';
import { defineTask } from '../../config/task';
import { z } from 'zod';
import { debounceReason, debounceSpecOf, singletonIdOf } from '../../api/flow-submit';
import { effectiveConflict } from '../../config/conflict';
import { keyIdOf } from '../../config/debounce';
import { debounceCollectorOf, debounceWindowId, debounceWorkflowId } from '../../config/names';
import { parsePlanWeights, planWeights } from '../../config/plans';

const input = z.object({ user: z.string() });
const base = { group: 'flow', input } as const;

describe('flow-mode declarations', () => {
  it('compiles debounce, conflict mode and dedupe window, and rejects maxWait < period with its path', () => {
    const c = defineCatalog({
      tasks: [
        defineTask({ ...base, name: 'flow.a', debounce: { key: (i) => i.user, period: '30s', maxWait: '5m' } }),
        defineTask({ ...base, name: 'flow.b', onConflict: 'cancel_running', dedupeFor: '24h', singletonKey: (i) => i.user }),
      ],
    });
    expect(c.get('flow.a')!.debounce).toMatchObject({ periodMs: 30_000, maxWaitMs: 300_000, collect: false });
    expect(c.get('flow.b')).toMatchObject({ onConflict: 'cancel_running', dedupeForMs: 86_400_000 });
    expect(singletonIdOf(c.get('flow.b')!, { user: 'ann' })).toBe('flow.b:ann');
    expect(() =>
      defineCatalog({ tasks: [defineTask({ ...base, name: 'flow.c', debounce: { key: (i) => i.user, period: '1m', maxWait: '10s' } })] }),
    ).toThrow(/tasks\.0\(flow\.c\)\.debounce\.maxWait: maxWait must be >= period/);
    expect(() => defineCatalog({ tasks: [{ ...base, name: 'flow.d', onConflict: 'overwrite' } as never] })).toThrow(/onConflict/);
  });

  it("merges a submit's debounce over the type's, and needs period and maxWait for a type without one", () => {
    const c = defineCatalog({
      tasks: [
        defineTask({ ...base, name: 'flow.a', debounce: { key: (i) => i.user, period: '30s', maxWait: '5m' } }),
        defineTask({ ...base, name: 'flow.e' }),
      ],
    });
    expect(debounceSpecOf(c.get('flow.a')!, { user: 'ann' }, undefined)).toEqual({
      key: 'ann',
      periodMs: 30_000,
      maxWaitMs: 300_000,
      collect: false,
    });
    expect(debounceSpecOf(c.get('flow.a')!, { user: 'ann' }, { key: 'k', maxWait: '1m' })).toEqual({
      key: 'k',
      periodMs: 30_000,
      maxWaitMs: 60_000,
      collect: false,
    });
    expect(debounceSpecOf(c.get('flow.e')!, {}, undefined)).toBeUndefined();
    expect(() => debounceSpecOf(c.get('flow.e')!, {}, { key: 'k' })).toThrow(/declares no debounce/);
  });

  it('takes the submit conflict mode over the declared one, defaulting to skip', () => {
    expect(effectiveConflict(undefined, {})).toEqual({ onConflict: 'skip' });
    expect(effectiveConflict({ onConflict: 'replace_queued', dedupeForMs: 5 }, { onConflict: 'skip' })).toEqual({
      onConflict: 'skip',
      dedupeForMs: 5,
    });
  });

  it('names windows as task IDs that lead back to their collector; odd keys are hashed', () => {
    const id = debounceWindowId('acme', 'flow.a', keyIdOf('ann'), 'abcd1234');
    expect(id).toBe('flow.a:acme:ann:abcd1234');
    expect(debounceCollectorOf(id)).toEqual({
      workflowId: debounceWorkflowId('acme', 'flow.a', 'ann'),
      tenant: 'acme',
      type: 'flow.a',
      keyId: 'ann',
    });
    expect(debounceCollectorOf('plain-task-id')).toBeUndefined();
    expect(keyIdOf('a b:c')).toMatch(/^h-[0-9a-f]{24}$/);
    expect(keyIdOf('a b:c')).toBe(keyIdOf('a b:c'));
  });

  it('says why a window waits', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    expect(
      debounceReason({ phase: 'collecting', submits: 12, startsAt: '2026-12-01T12:00:20Z', latestAt: '2026-12-01T12:05:00Z' }, now),
    ).toBe('debouncing: 12 submit(s), starts in 20 s or by 12:05:00 UTC at the latest');
  });

  it("maps a tenant's plan to its weight, within Temporal's range", () => {
    expect(parsePlanWeights('free=1, pro=3')).toEqual({ free: 1, pro: 3 });
    expect(() => parsePlanWeights('pro=5000')).toThrow(/weight of plan pro/);
    const w = planWeights({ weights: { pro: 3 }, tenants: { acme: 'pro', beta: 'free' } })!;
    expect([w('acme'), w('beta'), w('nobody')]).toEqual([3, undefined, undefined]);
    expect(planWeights({ weights: { pro: 3 }, tenants: {} })).toBeUndefined();
  });
});
