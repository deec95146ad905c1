import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { WORKFLOW_TRACING_MODULE } from '../../temporal/tracing';

/**
 * Replays recorded histories of every path through `runTask` (test/fixtures/histories, made by
 * scripts/record-histories.ts on a real server) against the current workflow code, so a
 * non-deterministic change fails CI before it breaks tasks in flight. Use `patched()` for
 * deliberate changes and keep the old fixtures.
 */
jest.setTimeout(120_000);

try {
  // Quiet the SDK's per-worker INFO lines; a runtime installed by an earlier file in this process stays.
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  /* already installed */
}

const root = resolve(__dirname, '..', '..');
const fixtures = join(root, 'test', 'fixtures', 'histories');
const files = readdirSync(fixtures).filter((f) => f.endsWith('.binpb'));

function histories() {
  return files.map((f) => {
    const history = temporal.api.history.v1.History.decode(readFileSync(join(fixtures, f)));
    const type = history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
    const name = f.replace(/\.binpb$/, '');
    // The file name, unique across generations. A batch parent's commands name its shards by its
    // own ID (`<id>/shard-<n>`), so it replays under the ID it was recorded with (the name without
    // its generation).
    return { workflowId: type === 'runBatch' ? name.replace(/\.v[0-9]+$/, '') : name, history };
  });
}

async function replayAll(workflowsPath: string, opts: { traced?: boolean } = {}) {
  const results = [];
  // Traced: the control worker with TIDEWAY_OTLP_ENDPOINT (OpenTelemetry's workflow interceptors, spans to a sink).
  const tracing = opts.traced
    ? { interceptors: { workflowModules: [WORKFLOW_TRACING_MODULE] }, sinks: { exporter: { export: { fn: () => undefined } } } }
    : {};
  for await (const r of Worker.runReplayHistories({ workflowsPath, bundlerOptions: { ignoreModules: [] }, ...tracing }, histories())) {
    results.push(r);
  }
  return results;
}

test('there are recorded histories for the main paths', () => {
  expect(files.length).toBeGreaterThanOrEqual(10);
  for (const name of ['succeeded', 'dead-lettered-redriven', 'paused-resumed', 'expired', 'promoted', 'cancelled-running']) {
    expect(files).toContain(`${name}.binpb`);
  }
});

test('every recorded history replays against the current workflow code', async () => {
  const results = await replayAll(join(root, 'workflows'));
  const failures = results.filter((r) => r.error).map((r) => `${r.workflowId}: ${String(r.error)}`);
  expect(failures).toEqual([]);
  expect(results).toHaveLength(files.length);
});

test('every recorded history replays with tracing on (tracing can be turned on for tasks in flight)', async () => {
  const results = await replayAll(join(root, 'workflows'), { traced: true });
  expect(results.filter((r) => r.error).map((r) => `${r.workflowId}: ${String(r.error)}`)).toEqual([]);
  expect(results).toHaveLength(files.length);
});

test('a non-deterministic change is caught (the check can fail)', async () => {
  // A copy of the workflow with one extra timer before validation: histories no longer match.
  const dir = join(root, 'workflows', '.replay-mutant');
  mkdirSync(dir, { recursive: true });
  try {
    const src = readFileSync(join(root, 'workflows', 'run-task.ts'), 'utf8')
      .replace(/from '\.\.\//g, "from '../../")
      .replace(/from '\.\//g, "from '../") // sibling workflow modules (./flow)
      .replace('  // 1. Validate against the catalog', '  await sleep(1);\n  // 1. Validate against the catalog');
    expect(src).toContain('await sleep(1);');
    writeFileSync(join(dir, 'index.ts'), src);
    const results = await replayAll(dir);
    // Match on the error's name, not instanceof: the SDK loads its own copy of the class.
    const broken = results.filter((r) => (r.error as Error | undefined)?.name === 'DeterminismViolationError');
    expect(broken.length).toBeGreaterThan(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
