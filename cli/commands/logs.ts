import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError, type Command } from 'commander';
import type { TaskLogLine } from '../../api/task-client';
import { TERMINAL_STATUSES, type TaskStatus } from '../../config/names';
import { TASK_LOG_DEFAULTS } from '../../config/task-log';
import { withTaskApi } from '../task-api';
import { say, tenantOption } from './common';

/** How often `logs --follow` asks for new lines. */
const FOLLOW_INTERVAL_MS = 1_000;

/** One line for people: time, level, attempt and worker, message, fields. */
export function formatLogLine(l: TaskLogLine): string {
  const fields = l.fields && Object.keys(l.fields).length > 0 ? `  ${JSON.stringify(l.fields)}` : '';
  return `${l.ts}  ${l.level.padEnd(5)}  attempt ${l.attempt}  pid ${l.pid}@${l.host}  ${l.msg}${fields}`;
}

/** A follower stops here: no attempt runs any more (a dead-lettered task runs again only if redriven). */
function finished(status: TaskStatus | undefined): boolean {
  return status !== undefined && (TERMINAL_STATUSES.includes(status) || status === 'dead_lettered');
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > TASK_LOG_DEFAULTS.maxPageSize) {
    throw new InvalidArgumentError(`a whole number from 1 to ${TASK_LOG_DEFAULTS.maxPageSize}`);
  }
  return n;
}

/** Adds `tideway logs <taskId> [--follow]`. */
export function registerLogsCommand(program: Command): void {
  program
    .command('logs')
    .description("show a task's log lines (ctx.log) across attempts and workers; --follow until it finishes")
    .argument('<taskId>')
    .option('-f, --follow', 'keep printing new lines until the task is finished (or dead-lettered)')
    .option('--after <cursor>', 'start after this cursor (the `next` of an earlier --json page)')
    .option('--limit <n>', 'lines per request', positiveInt, TASK_LOG_DEFAULTS.pageSize)
    .addOption(tenantOption())
    .option('--json', 'one JSON object per line (NDJSON)')
    .action(async (id: string, o: { follow?: boolean; after?: string; limit: number; tenant?: string; json?: boolean }) =>
      withTaskApi({ tenant: o.tenant }, async (api) => {
        let after = o.after;
        let truncated = false;
        for (;;) {
          const page = await api.logs(id, { limit: o.limit, ...(after !== undefined ? { after } : {}) });
          for (const l of page.lines) say(o.json ? JSON.stringify(l) : formatLogLine(l));
          after = page.next;
          truncated ||= page.truncated;
          if (page.lines.length >= o.limit) continue; // more are waiting
          // The status was read before the lines: a finished task has written all of them by then.
          if (!o.follow || finished(page.status)) {
            if (o.follow && !o.json) process.stderr.write(`${id} is ${page.status}\n`);
            break;
          }
          await sleep(FOLLOW_INTERVAL_MS);
        }
        if (truncated && !o.json) process.stderr.write(`the task's log was truncated at its bound; later lines are in the pool log\n`);
      }),
    );
}
