import { Context } from '@temporalio/activity';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Catalog } from '../config/catalog-schema';
import type { DebouncedSubmit } from '../config/messages';
import { resolveEnvelope, type TaskEnvelope } from '../config/envelope';
import { taskStartOptions } from '../api/start-task';

/** What the debounce workflow asks for when its window closes. */
export interface StartDebouncedInput {
  windowId: string;
  key: string;
  collect: boolean;
  /** The window's submits in arrival order (each validated by its submitter). */
  submits: DebouncedSubmit[];
  collectorId: string;
}

/** The control worker's debounce activity (a local activity of `debounceTask`). */
export function createDebounceActivities(catalog: Catalog) {
  return {
    /**
     * Starts a closed window's task: the last submit's envelope (lane, tenant, tag…), with the last
     * input or, with `collect`, every input in submit order. Idempotent: a retry finds the ID taken
     * and reports `false`.
     */
    async startDebounced(input: StartDebouncedInput): Promise<boolean> {
      const last = input.submits[input.submits.length - 1];
      if (!last) return false;
      let resolved;
      try {
        resolved = resolveEnvelope(catalog, last.envelope);
      } catch (err) {
        // The catalog changed since the submit: nothing to start, and retrying will not help.
        throw ApplicationFailure.create({ type: 'ValidationError', message: (err as Error).message, nonRetryable: true });
      }
      const inputs = input.submits.map((s) => s.envelope.input);
      const envelope: TaskEnvelope = input.collect ? { ...last.envelope, input: inputs } : last.envelope;
      if (input.collect) resolved = { ...resolved, input: inputs };
      const { workflowType, options } = taskStartOptions(catalog, resolved, envelope, input.windowId, {
        ...(last.fairnessWeight !== undefined ? { fairnessWeight: last.fairnessWeight } : {}),
      });
      try {
        await Context.current().client.workflow.start(workflowType, options);
        return true;
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
        throw err;
      }
    },
  };
}

export type DebounceActivities = ReturnType<typeof createDebounceActivities>;
