import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { createAdmission } from '../../admission';
import { ApiMetrics } from '../../api/http/metrics';
import { ScalerMetrics } from '../../scaler/metrics';
import { PoolMetrics } from '../../workers/pool-metrics';

/**
 * The Grafana dashboard (deploy/grafana/tideway.json) and the metric reference (docs/metrics.md)
 * are built on the registries' names: every name a panel queries must exist, and every name a
 * registry exports must be documented, so neither can drift from the code.
 */

const root = join(__dirname, '..', '..');

function names(registry: Registry): string[] {
  return registry.getMetricsAsArray().map((m) => m.name);
}

/** Every `tideway_*` series our processes export (API with admission, pool, scaler), default process metrics aside. */
function registryNames(): Set<string> {
  const api = new ApiMetrics(false);
  const gate = createAdmission({ mode: { kind: 'adaptive', objectiveMs: 250 } });
  api.watchAdmission(gate);
  void gate.close();
  const pool = new PoolMetrics({
    group: 'g',
    lane: 'normal',
    taskQueue: 'tideway.g.normal',
    concurrency: 1,
    slots: () => ({ limit: 1, issued: 0, used: 0, waiting: 0 }),
    inFlight: () => 0,
    draining: () => false,
  });
  const own = (n: string) => !/^tideway_(api|pool_process)_(process|nodejs)_|^tideway_pool_process_/.test(n);
  return new Set([...names(api.registry), ...names(pool.registry), ...names(new ScalerMetrics().registry)].filter(own));
}

/** Metric names in the dashboard's PromQL expressions. */
function dashboardNames(): Set<string> {
  const dash = JSON.parse(readFileSync(join(root, 'deploy', 'grafana', 'tideway.json'), 'utf8')) as {
    panels: { targets?: { expr: string }[] }[];
  };
  const out = new Set<string>();
  for (const p of dash.panels)
    for (const t of p.targets ?? []) for (const m of t.expr.matchAll(/\b(?:tideway|temporal)_[a-z0-9_]+/g)) out.add(m[0]);
  return out;
}

/** A histogram's series carry `_bucket`, `_sum`, `_count`; a counter's name is its series'. */
function baseName(series: string, known: Set<string>): string {
  if (known.has(series)) return series;
  const base = series.replace(/_(bucket|sum|count)$/, '');
  return known.has(base) ? base : series;
}

const docs = readFileSync(join(root, 'docs', 'metrics.md'), 'utf8');

test('every tideway_ metric the Grafana dashboard queries exists in a registry', () => {
  const known = registryNames();
  const used = [...dashboardNames()].filter((n) => n.startsWith('tideway_'));
  expect(used.length).toBeGreaterThan(15);
  expect(used.map((n) => baseName(n, known)).filter((n) => !known.has(n))).toEqual([]);
});

test('every temporal_ metric the dashboard queries is one of the SDK metrics docs/metrics.md lists', () => {
  const used = [...dashboardNames()].filter((n) => n.startsWith('temporal_'));
  expect(used.length).toBeGreaterThan(0);
  expect(used.map((n) => n.replace(/_(bucket|sum|count)$/, '')).filter((n) => !docs.includes(`\`${n}\``))).toEqual([]);
});

test('every metric a registry exports is documented in docs/metrics.md', () => {
  expect([...registryNames()].filter((n) => !docs.includes(`\`${n}\``))).toEqual([]);
});

test('the dashboard is importable JSON with a Prometheus data source input', () => {
  const dash = JSON.parse(readFileSync(join(root, 'deploy', 'grafana', 'tideway.json'), 'utf8')) as {
    __inputs: { name: string; pluginId: string }[];
    uid: string;
  };
  expect(dash.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', pluginId: 'prometheus' })]);
  expect(dash.uid).toBe('tideway');
});
