import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { HttpApiError, type BulkStatus } from '../../api/http-client';
import { bulkIdSchema, MAX_BULK } from '../../api/http/schemas';
import { itemsOf, parseBulkFile, reportOf, type RejectedEntry } from '../bulk-file';
import { bulkProgressLine, count, printJson, ProgressPrinter, table } from '../format';
import { withTaskApi, type TaskApi } from '../task-api';
import { given, say, tenantOption } from './common';

/**
 * `tideway bulk`: hand Tideway up to 100,000 tasks in one call (accepted durably at once, started
 * as fast as admission allows), then follow or cancel the bulk. `submit` is the default verb, so
 * `tideway bulk tasks.ndjson` works.
 */

/** Rejected items listed in the text output; --json has them all. */
const SHOWN_REJECTED = 20;
/** How often a followed bulk is polled. */
const POLL_MS = 1000;
/** A bulk just accepted may not be visible yet (its chunks are listed through visibility): 404s are tolerated this long. */
const NOT_VISIBLE_GRACE_MS = 15_000;

function parseBulkId(value: string): string {
  const r = bulkIdSchema.safeParse(value);
  if (!r.success) throw new InvalidArgumentError(r.error.issues.map((i) => i.message).join('; '));
  return r.data;
}

const EXAMPLES = `
Examples:
  $ tideway bulk tasks.ndjson                      # one JSON task body per line
  $ tideway bulk tasks.json --wait                 # a JSON array; follow until every task is started
  $ generate-tasks | tideway bulk - --bulk-id nightly-2026-12-01
  $ tideway bulk status nightly-2026-12-01 --watch
  $ tideway bulk cancel nightly-2026-12-01

A task body is what POST /v1/tasks takes: {"type":"demo.echo","input":{"n":1},"taskId":"t-1","lane":"low"}.
The bulk ID is an idempotency key: running the same file with the same --bulk-id again accepts nothing twice.
Over HTTP (TIDEWAY_URL) a request refused with 429 is retried after its Retry-After, with a note on stderr.`;

/** Adds `bulk [submit] <file>`, `bulk status <id>` and `bulk cancel <id>`. */
export function registerBulkCommands(program: Command): void {
  const bulk = program
    .command('bulk')
    .description(`submit up to ${count(MAX_BULK)} tasks in one call (JSON array or NDJSON), then follow or cancel the bulk`)
    .addHelpText('after', EXAMPLES);

  bulk
    .command('submit', { isDefault: true })
    .description('submit every task of a file in one call; prints the bulk ID and the counts (the default verb)')
    .argument('<file>', 'a JSON array of task bodies, or NDJSON (one body per line); - reads stdin')
    .option('--bulk-id <id>', 'bulk ID, also the idempotency key (default: a random UUID)', parseBulkId)
    .option('--wait', 'then show a progress bar until every task is started, a duplicate, failed or cancelled')
    .addOption(tenantOption())
    .option('--json', 'machine-readable output (every rejected item)')
    .addHelpText('after', EXAMPLES)
    .action(async (file: string, o: { bulkId?: string; wait?: boolean; tenant?: string; json?: boolean }) => {
      const parsed = parseBulkFile(readFileSync(file === '-' ? 0 : file, 'utf8'));
      const items = itemsOf(parsed);
      if (items.length > MAX_BULK) {
        throw new InvalidArgumentError(`${count(items.length)} tasks in ${file}: at most ${count(MAX_BULK)} per bulk; split the file`);
      }
      if (items.length === 0) {
        // Nothing to send: every entry is unreadable.
        const report = reportOf(parsed, undefined);
        if (o.json) printJson(report);
        else {
          say(`no bulk: 0 accepted, ${count(report.rejected)} rejected (nothing in ${file} is JSON)`);
          printRejected(report.rejected, report.errors, parsed.format);
        }
        process.exitCode = 1;
        return;
      }
      await withTaskApi({ tenant: o.tenant }, async (api) => {
        const report = reportOf(parsed, await api.submitMany(items, given({ bulkId: o.bulkId })));
        if (!o.json) {
          say(`bulk ${report.bulkId}: ${count(report.accepted)} accepted, ${count(report.rejected)} rejected`);
          printRejected(report.rejected, report.errors, parsed.format);
        }
        if (!o.wait || report.accepted === 0) {
          if (o.json) printJson(report);
          return;
        }
        const status = await follow(api, report.bulkId, NOT_VISIBLE_GRACE_MS);
        if (o.json) printJson({ ...report, status });
        else printStatus(status);
      });
    });

  bulk
    .command('status')
    .description("a bulk's progress: accepted, started, duplicate, failed, cancelled and pending tasks")
    .argument('<bulkId>')
    .option('--watch', 'show a progress bar until the intake is done (every task started, a duplicate, failed or cancelled)')
    .addOption(tenantOption())
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: { watch?: boolean; tenant?: string; json?: boolean }) =>
      withTaskApi({ tenant: o.tenant }, async (api) => {
        const s = o.watch ? await follow(api, id, 0) : await api.bulkStatus(id);
        if (o.json) printJson(s);
        else printStatus(s);
      }),
    );

  bulk
    .command('cancel')
    .description('cancel a bulk: its tasks not started yet never start, started ones are cancelled')
    .argument('<bulkId>')
    .addOption(tenantOption())
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: { tenant?: string; json?: boolean }) =>
      withTaskApi({ tenant: o.tenant }, async (api) => {
        const r = await api.cancelBulk(id);
        if (o.json) printJson(r);
        else say(`bulk ${r.bulkId}: cancel requested (${count(r.cancelledChunks)} chunks)`);
      }),
    );
}

/**
 * Polls a bulk until its state is not `running`, showing the progress bar on stderr (in place on a
 * terminal, else a line every few seconds); returns the last status. A 404 in the first `graceMs`
 * is a bulk not visible yet.
 */
async function follow(api: TaskApi, bulkId: string, graceMs: number): Promise<BulkStatus> {
  const printer = new ProgressPrinter({ write: (t) => process.stderr.write(t), tty: process.stderr.isTTY === true });
  const since = Date.now();
  for (;;) {
    let s: BulkStatus | undefined;
    try {
      s = await api.bulkStatus(bulkId);
    } catch (err) {
      const notYet = err instanceof HttpApiError && err.status === 404 && Date.now() - since < graceMs;
      if (!notYet) {
        printer.end();
        throw err;
      }
    }
    if (s) {
      const done = s.state !== 'running';
      printer.update(bulkProgressLine(s), done);
      if (done) return s;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function printStatus(s: BulkStatus): void {
  say(`bulk ${s.bulkId} (${s.tenant}): ${s.state}, ${count(s.chunks.done)}/${count(s.chunks.total)} chunks done`);
  say(bulkProgressLine(s));
  if (s.failures.length) {
    say(`failed to start${s.failed > s.failures.length ? ` (first ${s.failures.length} of ${count(s.failed)})` : ''}:`);
    say(table(s.failures.slice(0, SHOWN_REJECTED).map((f) => ({ taskId: f.taskId, error: f.message }))));
  }
}

function printRejected(rejected: number, errors: RejectedEntry[], format: 'json-array' | 'ndjson'): void {
  if (!errors.length) return;
  const where = format === 'ndjson' ? 'line' : 'item';
  const rows = errors
    .slice(0, SHOWN_REJECTED)
    .map((e) => ({ [where]: e.at, status: e.httpStatus, type: e.error.type, error: e.error.message }));
  if (rejected > rows.length) say(`first ${rows.length} of ${count(rejected)} rejected (--json lists all):`);
  say(table(rows, [where, 'status', 'type', 'error']));
}
