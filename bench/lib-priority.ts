import type { WorkflowClientInterceptor } from '@temporalio/client';
import { TypedSearchAttributes, defineSearchAttributeKey, type Priority } from '@temporalio/common';
import type { Lane } from '../config/names';

/** Temporal priority key per lane: lower is served first (server 1.29 levels 1..5, default 3). */
export const LANE_PRIORITY_KEY: Readonly<Record<Lane, number>> = { high: 1, normal: 3, low: 5 };

const LANE = defineSearchAttributeKey('Lane', 'KEYWORD');
const TENANT = defineSearchAttributeKey('TenantId', 'KEYWORD');

/**
 * PROPOSAL for api/task-client.ts (the lead's): a client interceptor that gives every `runTask`
 * start a Temporal priority from its Lane search attribute and a fairness key from its tenant.
 * The control queue is shared by all lanes, so without it a low-lane flood's workflow tasks sit in
 * front of a high-lane task's first workflow task; activities inherit the workflow's priority.
 * bench:lanes uses it only when BENCH_LANES_PRIORITY=1, to measure what the change would buy.
 */
export function lanePriorityInterceptor(opts: { fairness: boolean } = { fairness: true }): WorkflowClientInterceptor {
  return {
    async start(input, next) {
      const tsa = input.options.typedSearchAttributes;
      const attrs = tsa instanceof TypedSearchAttributes ? tsa : new TypedSearchAttributes(tsa ?? []);
      const lane = attrs.get(LANE) as Lane | undefined;
      if (!lane || input.options.priority) return next(input);
      const tenant = opts.fairness ? attrs.get(TENANT) : undefined;
      const priority: Priority = { priorityKey: LANE_PRIORITY_KEY[lane], ...(tenant ? { fairnessKey: tenant } : {}) };
      return next({ ...input, options: { ...input.options, priority } });
    },
  };
}
