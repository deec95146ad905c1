import type { BulkAccepted } from '../api/http/schemas';
import { TidewayError } from '../config/errors';

/**
 * Reads the task file of `tideway bulk`: a JSON array of task bodies, or NDJSON (one body per line),
 * told apart by the first non-space character (`[`). A line that is not JSON becomes a rejected
 * item with its line number instead of failing the whole file; it is never sent.
 */

/** Thrown by parseBulkFile when the file as a whole cannot be read as tasks (a broken JSON array, nothing in it). */
export class BulkFileError extends TidewayError {
  readonly type = 'BulkFileError';
}

export interface ParsedBulkFile {
  format: 'json-array' | 'ndjson';
  /** Every entry of the file in order: an array element, or a non-blank line. */
  entries: BulkFileEntry[];
}

export type BulkFileEntry =
  /** `at`: the 1-based line (NDJSON) or element number (JSON array) where the entry is. */
  { at: number; ok: true; item: unknown } | { at: number; ok: false; message: string };

export function parseBulkFile(text: string): ParsedBulkFile {
  const body = text.replace(/^\uFEFF/, '');
  if (body.trimStart().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (err) {
      throw new BulkFileError(`the file starts with "[" but is not a valid JSON array: ${(err as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new BulkFileError('the file starts with "[" but is not a JSON array');
    if (parsed.length === 0) throw new BulkFileError('the JSON array is empty: no tasks to submit');
    return { format: 'json-array', entries: parsed.map((item: unknown, i) => ({ at: i + 1, ok: true, item })) };
  }
  const entries: BulkFileEntry[] = [];
  body.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    try {
      entries.push({ at: i + 1, ok: true, item: JSON.parse(line) as unknown });
    } catch (err) {
      entries.push({ at: i + 1, ok: false, message: `not valid JSON (${(err as Error).message})` });
    }
  });
  if (entries.length === 0) throw new BulkFileError('the file has no tasks (NDJSON: one JSON task body per line)');
  return { format: 'ndjson', entries };
}

/** The items to send: the entries that are JSON, in file order. */
export function itemsOf(file: ParsedBulkFile): unknown[] {
  return file.entries.flatMap((e) => (e.ok ? [e.item] : []));
}

/** A rejected entry as `tideway bulk` reports it: where it is in the file and why. */
export interface RejectedEntry {
  /** 0-based index among the file's entries. */
  index: number;
  /** 1-based line (NDJSON) or element number (JSON array). */
  at: number;
  httpStatus: number;
  error: { type: string; message: string; details?: unknown };
}

/** The server's answer for the items sent, told in the file's terms: indices and positions of entries, unparsable lines included. */
export interface BulkFileReport {
  bulkId: string;
  accepted: number;
  rejected: number;
  /** Per entry: its task ID, or null when it was rejected. */
  taskIds: (string | null)[];
  errors: RejectedEntry[];
}

/**
 * Combines the answer for `itemsOf(file)` with the entries that were never sent. `answer` is
 * undefined when nothing could be sent (every line was bad).
 */
export function reportOf(file: ParsedBulkFile, answer: BulkAccepted | undefined): BulkFileReport {
  const sent: number[] = []; // sent item i is entry sent[i]
  file.entries.forEach((e, i) => e.ok && sent.push(i));
  const taskIds: (string | null)[] = file.entries.map(() => null);
  (answer?.taskIds ?? []).forEach((id, i) => {
    const entry = sent[i];
    if (entry !== undefined) taskIds[entry] = id;
  });
  const errors: RejectedEntry[] = [];
  file.entries.forEach((e, index) => {
    if (!e.ok) errors.push({ index, at: e.at, httpStatus: 400, error: { type: 'InvalidJson', message: e.message } });
  });
  for (const err of answer?.errors ?? []) {
    const index = sent[err.index] ?? -1;
    errors.push({ index, at: file.entries[index]?.at ?? err.index + 1, httpStatus: err.httpStatus, error: err.error });
  }
  errors.sort((a, b) => a.index - b.index);
  const unsent = file.entries.length - sent.length;
  return { bulkId: answer?.bulkId ?? '', accepted: answer?.accepted ?? 0, rejected: (answer?.rejected ?? 0) + unsent, taskIds, errors };
}
