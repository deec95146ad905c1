import { catalogScheduleOptions } from '../../api/schedules';
import * as messages from '../../config/messages';
import type { CompiledSchedule } from '../../config/schedule';
import { catalogScheduleMemo, readCatalogScheduleMemo, sameCatalogScheduleMemo } from '../../config/schedule-memo';
import { SA_KEYS, SEARCH_ATTRIBUTES, taskAttributePairs } from '../../config/search-attributes';
import { visibilityQuery } from '../../config/visibility';
import { inFlightQuery } from '../../scaler/signals/in-flight';
import type { ScaledPool } from '../../scaler/types';

describe("runTask's Temporal contract", () => {
  it('keeps the public message names (plain clients and batch jobs send them)', () => {
    const {
      stateQuery,
      attemptStartedSignal,
      attemptFailedSignal,
      pauseSignal,
      resumeSignal,
      redriveSignal,
      discardSignal,
      shardDeadLetteredSignal,
    } = messages;
    const defs = [
      stateQuery,
      attemptStartedSignal,
      attemptFailedSignal,
      pauseSignal,
      resumeSignal,
      redriveSignal,
      discardSignal,
      shardDeadLetteredSignal,
    ];
    expect(defs.map((d) => `${d.type} ${d.name}`)).toEqual([
      'query state',
      'signal tideway.attemptStarted',
      'signal tideway.attemptFailed',
      'signal pause',
      'signal resume',
      'signal redrive',
      'signal discard',
      'signal tideway.shardDeadLettered',
    ]);
    // MESSAGES (exported for plain clients) names the same definitions.
    expect(Object.values(messages.MESSAGES)).toEqual(defs.map((d) => d.name));
  });

  it('has one Keyword key per registered search attribute, and one order of a task’s pairs', () => {
    expect(Object.values(SA_KEYS).map((k) => [k.name, k.type])).toEqual(SEARCH_ATTRIBUTES.map((n) => [n, 'KEYWORD']));
    const pairs = taskAttributePairs({ type: 'demo.echo', group: 'demo', lane: 'high', tenant: 'acme', status: 'queued' });
    expect(pairs.map((p) => [p.key.name, p.value])).toEqual([
      ['TaskType', 'demo.echo'],
      ['ServiceGroup', 'demo'],
      ['Lane', 'high'],
      ['TenantId', 'acme'],
      ['TaskStatus', 'queued'],
    ]);
    expect(taskAttributePairs({ type: 't', group: 'g', lane: 'low', tenant: 'x' })).toHaveLength(4);
  });

  it('builds every visibility query with one function', () => {
    expect(visibilityQuery({})).toBe('WorkflowType IN ("runTask","runBatch")');
    expect(visibilityQuery({}, { tasksOnly: true })).toBe('WorkflowType="runTask"');
    expect(
      visibilityQuery(
        { type: 'demo.echo', status: 'queued', tenant: 'acme', lane: 'low', group: 'demo' },
        { controlQueue: 'tideway.control' },
      ),
    ).toBe(
      'WorkflowType IN ("runTask","runBatch") AND TaskQueue="tideway.control" AND TaskType="demo.echo" AND ServiceGroup="demo" AND Lane="low" AND TaskStatus="queued" AND TenantId="acme"',
    );
    expect(visibilityQuery({ tenant: 'acme' }, { controlQueue: 'tideway.reports.control', running: true })).toBe(
      'WorkflowType IN ("runTask","runBatch") AND TaskQueue="tideway.reports.control" AND TenantId="acme" AND ExecutionStatus="Running"',
    );
    expect(inFlightQuery({ group: 'demo', lane: 'high' } as ScaledPool)).toBe(
      'WorkflowType="runTask" AND ServiceGroup="demo" AND Lane="high" AND TaskStatus="running" AND ExecutionStatus="Running"',
    );
    // The scaler counts only its own app's running tasks: another app may have a group of that name.
    expect(inFlightQuery({ group: 'demo', lane: 'high' } as ScaledPool, 'tideway.alpha.control')).toBe(
      'WorkflowType="runTask" AND TaskQueue="tideway.alpha.control" AND ServiceGroup="demo" AND Lane="high" AND TaskStatus="running" AND ExecutionStatus="Running"',
    );
    // Values go into the query only once validated: nothing can close the quotes.
    expect(() => visibilityQuery({ type: 'x" OR TaskType="y' })).toThrow();
  });
});

describe('catalog schedule memo', () => {
  const nightly: CompiledSchedule = {
    id: 'demo.nightly',
    scheduleId: 'tideway.reports.demo.nightly',
    taskType: 'demo.echo',
    group: 'demo',
    lane: 'low',
    cron: '0 2 * * *',
    timezone: 'Europe/Paris',
    input: {},
    overlap: 'SKIP',
    expectedTasks: 3,
    app: 'reports',
  };

  it('is written by catalogScheduleOptions and read back the same, cron and time zone included', () => {
    const memo = readCatalogScheduleMemo(catalogScheduleOptions(nightly).memo);
    expect(memo).toEqual({
      taskType: 'demo.echo',
      group: 'demo',
      lane: 'low',
      expectedTasks: 3,
      source: 'catalog',
      app: 'reports',
      cron: '0 2 * * *',
      timezone: 'Europe/Paris',
    });
    expect(sameCatalogScheduleMemo(memo, catalogScheduleMemo(nightly))).toBe(true);
  });

  it('reads older and hand-written memos, and tells them apart from what sync would write now', () => {
    const older = readCatalogScheduleMemo({
      tideway: { taskType: 'demo.echo', group: 'demo', lane: 'low', expectedTasks: 3, source: 'catalog', app: 'reports' },
    });
    expect(older).toMatchObject({ taskType: 'demo.echo', expectedTasks: 3 });
    expect(sameCatalogScheduleMemo(older, catalogScheduleMemo(nightly))).toBe(false);
    expect(sameCatalogScheduleMemo(undefined, catalogScheduleMemo(nightly))).toBe(false);
    expect(readCatalogScheduleMemo({ tideway: { taskType: 'demo.echo', group: 'demo', lane: 'high' } })?.expectedTasks).toBe(1);
    expect(readCatalogScheduleMemo({ tideway: { taskType: 'demo.echo' } })).toBeUndefined();
    expect(readCatalogScheduleMemo(undefined)).toBeUndefined();
  });
});
