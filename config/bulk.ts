/**
 * The contract of durable bulk intake, defined once: what a bulk's chunk workflow (`bulkIntake`)
 * takes, reports and answers, shared by TaskClient (which starts the chunks), the intake activity
 * (which starts the tasks) and the workflow.
 *
 * This module is imported by workflow code: only @temporalio/workflow's definitions and types.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { TaskEnvelope } from './envelope';
import type { Lane } from './names';

/** One accepted task of a bulk: its ID and its envelope (the chunk carries the tenant and lane). */
export interface IntakeItem {
  taskId: string;
  envelope: Omit<TaskEnvelope, 'tenant' | 'lane'>;
}

/** Input of one `bulkIntake` workflow: up to INTAKE_CHUNK_SIZE items of one lane and tenant. */
export interface IntakeChunkInput {
  bulkId: string;
  /** This chunk's number, 0-based, and how many chunks the bulk has. */
  chunk: number;
  chunks: number;
  /** Tasks accepted in the whole bulk. */
  bulkAccepted: number;
  tenant: string;
  lane: Lane;
  items: IntakeItem[];
  acceptedAt: string;
}

/** A task the intake could not start (the catalog changed since it was accepted, say). */
export interface IntakeFailure {
  taskId: string;
  message: string;
}

/** What one `startTasks` call did with the items it was given, in order from the first. */
export interface SliceResult {
  /** Items dealt with, from the first of the slice: the rest go to the next call. */
  processed: number;
  started: number;
  duplicate: number;
  failed: number;
  failures: IntakeFailure[];
}

/** Argument of the intake activity: a slice of a chunk's items. */
export interface SliceInput {
  bulkId: string;
  tenant: string;
  lane: Lane;
  items: IntakeItem[];
}

/** Progress of one chunk: what its memo and the `bulkChunk` query say. */
export interface ChunkProgress extends Omit<IntakeChunkInput, 'items'> {
  total: number;
  started: number;
  duplicate: number;
  failed: number;
  /** Not started because the bulk was cancelled. */
  cancelled: number;
  state: 'running' | 'completed' | 'cancelled';
  /** The first failures (at most MAX_FAILURES_KEPT per chunk). */
  failures: IntakeFailure[];
}

/** A chunk's progress before anything started (the memo it is started with, and where the workflow begins). */
export function initialChunkProgress(input: IntakeChunkInput): ChunkProgress {
  const { items, ...rest } = input;
  return { ...rest, total: items.length, started: 0, duplicate: 0, failed: 0, cancelled: 0, state: 'running', failures: [] };
}

/** Memo key of a chunk workflow's progress (listing a bulk's chunks reads it, no query needed). */
export const CHUNK_PROGRESS_MEMO = 'tidewayBulkChunk';

/** Failures kept per chunk in its progress (the rest are only counted). */
export const MAX_FAILURES_KEPT = 20;

/** A task of the chunk that is accepted and not started yet, as `pendingTask` answers it. */
export interface PendingTask {
  taskId: string;
  type: string;
  bulkId: string;
  chunk: number;
  tenant: string;
  lane: Lane;
  acceptedAt: string;
}

export const bulkChunkQuery = defineQuery<ChunkProgress>('bulkChunk');
export const pendingTaskQuery = defineQuery<PendingTask | null, [string]>('pendingTask');
/** Stops the chunk after its current slice: tasks not started by then never start. */
export const cancelIntakeSignal = defineSignal('cancelIntake');
