/**
 * Tideway's search attributes, defined once: the names Temporal must have registered, and the typed
 * keys the workflow upserts and the clients set at start and read back (api/search.ts builds the
 * visibility queries from them).
 *
 * This module is imported by workflow code: only @temporalio/common's key definitions, names and types.
 */
import { defineSearchAttributeKey, type SearchAttributePair } from '@temporalio/common';
import type { Lane, TaskStatus } from './names';

/** Keyword search attributes Tideway keeps on every task workflow. */
export const SEARCH_ATTRIBUTES = ['TaskType', 'ServiceGroup', 'Lane', 'TenantId', 'TaskStatus', 'BulkId'] as const;
export type SearchAttributeName = (typeof SEARCH_ATTRIBUTES)[number];

const keyword = (name: SearchAttributeName) => defineSearchAttributeKey(name, 'KEYWORD');

/** The typed key of each attribute (`SA_KEYS.TaskStatus`), all of them Keyword. */
export const SA_KEYS = Object.fromEntries(SEARCH_ATTRIBUTES.map((name) => [name, keyword(name)])) as Readonly<
  Record<SearchAttributeName, ReturnType<typeof keyword>>
>;

/** What a task's search attributes say; the status is left out where it is set on its own. */
export interface TaskAttributes {
  type: string;
  group: string;
  lane: Lane;
  tenant: string;
  status?: TaskStatus;
  /** The bulk intake that started the task, if any (also set on the bulk's chunk workflows). */
  bulkId?: string;
}

/** A task's attributes as typed pairs, in the same order everywhere (start, schedule actions, upserts). */
export function taskAttributePairs(a: TaskAttributes): SearchAttributePair[] {
  return [
    { key: SA_KEYS.TaskType, value: a.type },
    { key: SA_KEYS.ServiceGroup, value: a.group },
    { key: SA_KEYS.Lane, value: a.lane },
    { key: SA_KEYS.TenantId, value: a.tenant },
    ...(a.status ? [{ key: SA_KEYS.TaskStatus, value: a.status }] : []),
    ...(a.bulkId ? [{ key: SA_KEYS.BulkId, value: a.bulkId }] : []),
  ];
}

/** Where a task came from, for its Web UI details. */
export interface TaskOrigin {
  /** The bulk intake that started it. */
  bulkId?: string;
  /** The schedule that fires it. */
  scheduleId?: string;
  /** The batch task it is a shard of (`<batch task ID>`, shard number). */
  batch?: { taskId: string; shard: number };
}

/**
 * A task workflow's Temporal user metadata (`staticSummary`, `staticDetails`), what the Web UI shows
 * in its list and on the workflow's page: one summary line, and details as Markdown lines. Defined
 * once for every path that starts a task (the search attributes above do the filtering).
 */
export function taskUserMetadata(a: Omit<TaskAttributes, 'status' | 'bulkId'>, origin: TaskOrigin = {}) {
  const from = origin.batch
    ? ` · shard ${origin.batch.shard} of ${origin.batch.taskId}`
    : origin.bulkId
      ? ` · bulk ${origin.bulkId}`
      : origin.scheduleId
        ? ` · schedule ${origin.scheduleId}`
        : '';
  const details = [
    `**Type** \`${a.type}\` (group \`${a.group}\`)`,
    `**Tenant** \`${a.tenant}\``,
    `**Lane** \`${a.lane}\``,
    ...(origin.bulkId ? [`**Bulk** \`${origin.bulkId}\``] : []),
    ...(origin.scheduleId ? [`**Schedule** \`${origin.scheduleId}\``] : []),
    ...(origin.batch ? [`**Batch** \`${origin.batch.taskId}\`, shard ${origin.batch.shard}`] : []),
  ];
  return {
    staticSummary: `${a.type} · ${a.lane} lane · tenant ${a.tenant}${from}`,
    // Two spaces end a Markdown line, so each fact keeps its own line.
    staticDetails: details.join('  \n'),
  };
}
