import { backoffDelayMs, retryAfterDelayMs, withRetry, type RetryClock, type RetryInfo } from '../../api/retry';
import { BulkFileError, itemsOf, parseBulkFile, reportOf } from '../../cli/bulk-file';
import { bulkDone, bulkProgressLine, progressBar, ProgressPrinter } from '../../cli/format';
import { retryNote } from '../../cli/task-api';

describe('progressBar', () => {
  it.each([
    [0, 10, 10, '[..........]   0% 0/10'],
    [5, 10, 10, '[#####.....]  50% 5/10'],
    [10, 10, 10, '[##########] 100% 10/10'],
    [1, 3, 10, '[###.......]  33% 1/3'],
    [12_345, 100_000, 10, '[#.........]  12% 12,345/100,000'],
    [15, 10, 10, '[##########] 100% 10/10'],
    [-1, 10, 10, '[..........]   0% 0/10'],
    [0, 0, 4, '[####] 100% 0/0'],
  ])('%d of %d, %d wide', (done, total, width, expected) => {
    expect(progressBar(done, total, width)).toBe(expected);
  });
});

describe('bulkProgressLine', () => {
  const s = { state: 'running', accepted: 1000, started: 380, duplicate: 10, failed: 5, cancelled: 5, pending: 600 };
  it('counts started + duplicate + failed + cancelled of accepted', () => {
    expect(bulkDone(s)).toBe(400);
    expect(bulkProgressLine(s, 10)).toBe(
      '[####......]  40% 400/1,000  started 380  duplicate 10  failed 5  cancelled 5  pending 600  (running)',
    );
  });
});

describe('ProgressPrinter', () => {
  it('redraws one line on a terminal and ends it on the final update', () => {
    const out: string[] = [];
    const p = new ProgressPrinter({ write: (t) => out.push(t), tty: true });
    p.update('a');
    p.update('b');
    p.update('c', true);
    expect(out).toEqual(['\r\x1b[2Ka', '\r\x1b[2Kb', '\r\x1b[2Kc\n']);
  });

  it('elsewhere prints a line at most every everyMs, and always the final one', () => {
    const out: string[] = [];
    let t = 0;
    const p = new ProgressPrinter({ write: (x) => out.push(x), tty: false, everyMs: 5000, now: () => t });
    for (const [at, line] of [
      [0, 'a'],
      [1000, 'b'],
      [4999, 'c'],
      [5000, 'd'],
      [6000, 'e'],
    ] as const) {
      t = at;
      p.update(line);
    }
    p.update('f', true);
    p.end();
    expect(out).toEqual(['a\n', 'd\n', 'f\n']);
  });
});

describe('parseBulkFile', () => {
  it('reads NDJSON, skipping blank lines, and keeps bad lines with their line numbers', () => {
    const f = parseBulkFile('{"type":"a"}\n\n  {"type":"b"}  \n{nope\n[1]\r\n');
    expect(f.format).toBe('ndjson');
    expect(f.entries.map((e) => [e.at, e.ok])).toEqual([
      [1, true],
      [3, true],
      [4, false],
      [5, true],
    ]);
    expect(itemsOf(f)).toEqual([{ type: 'a' }, { type: 'b' }, [1]]);
    expect(f.entries[2]).toMatchObject({ ok: false, message: expect.stringMatching(/^not valid JSON/) });
  });

  it('reads a JSON array when the first non-space character is [', () => {
    const f = parseBulkFile('\uFEFF  \n [{"type":"a"},\n {"type":"b"}]\n');
    expect(f.format).toBe('json-array');
    expect(f.entries).toEqual([
      { at: 1, ok: true, item: { type: 'a' } },
      { at: 2, ok: true, item: { type: 'b' } },
    ]);
  });

  it.each([
    ['[{"type":"a"},', /not a valid JSON array/],
    ['[]', /empty/],
    ['\n  \n', /no tasks/],
  ])('refuses %j as a whole', (text, message) => {
    expect(() => parseBulkFile(text)).toThrow(BulkFileError);
    expect(() => parseBulkFile(text)).toThrow(message);
  });
});

describe('reportOf', () => {
  it("tells the server's answer in the file's terms, with the unsent lines", () => {
    const f = parseBulkFile(['{"type":"a"}', '{bad', '{"type":"nope"}', '', '{"type":"c"}'].join('\n'));
    const err = { type: 'UnknownTaskType', message: 'no task type "nope"' };
    const r = reportOf(f, {
      bulkId: 'b1',
      accepted: 2,
      rejected: 1,
      taskIds: ['t-a', null, 't-c'],
      errors: [{ index: 1, httpStatus: 400, error: err }],
    });
    expect(r).toEqual({
      bulkId: 'b1',
      accepted: 2,
      rejected: 2,
      taskIds: ['t-a', null, null, 't-c'],
      errors: [
        { index: 1, at: 2, httpStatus: 400, error: { type: 'InvalidJson', message: expect.stringMatching(/^not valid JSON/) } },
        { index: 2, at: 3, httpStatus: 400, error: err },
      ],
    });
  });

  it('with nothing sent, every entry is rejected', () => {
    const r = reportOf(parseBulkFile('{a\n{b\n'), undefined);
    expect(r).toMatchObject({ bulkId: '', accepted: 0, rejected: 2, taskIds: [null, null] });
    expect(r.errors.map((e) => e.at)).toEqual([1, 2]);
  });
});

describe('retry policy', () => {
  /** A clock whose sleep only advances time. */
  function fakeClock(): RetryClock & { slept: number[] } {
    let t = 1_000_000;
    const slept: number[] = [];
    return {
      slept,
      now: () => t,
      sleep: async (ms) => {
        slept.push(ms);
        t += ms;
      },
      random: () => 0.5,
    };
  }

  it('retries what classify allows, reporting each retry, then returns the answer', async () => {
    const clock = fakeClock();
    const seen: RetryInfo[] = [];
    let n = 0;
    const r = await withRetry(
      '/v1/x',
      async () => {
        if (++n < 3) throw new Error('busy');
        return 'ok';
      },
      () => ({ waitMs: 1000, reason: '429 lane_admission' }),
      { onRetry: (i) => seen.push(i) },
      clock,
    );
    expect(r).toBe('ok');
    expect(clock.slept).toEqual([1000, 1000]);
    expect(seen).toEqual([
      { attempt: 1, waitMs: 1000, reason: '429 lane_admission', path: '/v1/x' },
      { attempt: 2, waitMs: 1000, reason: '429 lane_admission', path: '/v1/x' },
    ]);
  });

  it('throws the last error when a retry would end past maxRetryMs, or classify says final', async () => {
    const clock = fakeClock();
    const fail = async () => {
      throw new Error('busy');
    };
    await expect(withRetry('/p', fail, () => ({ waitMs: 1000, reason: 'r' }), { maxRetryMs: 2500 }, clock)).rejects.toThrow('busy');
    expect(clock.slept).toEqual([1000, 1000]);
    await expect(withRetry('/p', fail, () => undefined, {}, clock)).rejects.toThrow('busy');
  });

  it('waits Retry-After seconds (1 s when absent) plus a small jitter; backoff doubles to 30 s', () => {
    expect(retryAfterDelayMs(2, () => 0)).toBe(2000);
    expect(retryAfterDelayMs(2, () => 1)).toBe(2200);
    expect(retryAfterDelayMs(undefined, () => 0)).toBe(1000);
    expect(retryAfterDelayMs(Number.NaN, () => 0)).toBe(1000);
    expect(retryAfterDelayMs(60, () => 1)).toBe(60_250);
    expect([1, 2, 3, 10].map((a) => backoffDelayMs(a, () => 0))).toEqual([1000, 2000, 4000, 30_000]);
  });

  it('the CLI note names the reason, the wait in seconds and the attempt', () => {
    expect(retryNote({ attempt: 3, waitMs: 2140, reason: '429 lane_admission', path: '/v1/tasks' })).toBe(
      '429 lane_admission: retrying in 2 s (attempt 3)',
    );
  });
});
