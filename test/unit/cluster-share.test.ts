import { nextCheckInMs, shareOf } from '../../admission/cluster-share';
import { formatAdmissionMode, parseAdmission } from '../../config/admission';
import { loadSettings } from '../../config/settings';

/** The pure parts of a fixed budget shared by the cluster (the registry itself is tested on a real server: admission-cluster.test.ts). */

test.each([
  // members, low rate, low burst, normal rate, normal burst
  [1, 8, 8, 50, 100],
  [2, 4, 4, 25, 50],
  [3, 8 / 3, 2, 50 / 3, 33],
  [16, 0.5, 1, 50 / 16, 6], // a burst never drops below one start
])('%i members share low=8/s;normal=50/s,burst=100', (members, low, lowBurst, normal, normalBurst) => {
  const share = shareOf(parseAdmission('low=8/s;normal=50/s,burst=100'), members);
  expect(share.low?.perSecond).toBeCloseTo(low, 9);
  expect(share.low?.burst).toBe(lowBurst);
  expect(share.normal?.perSecond).toBeCloseTo(normal, 9);
  expect(share.normal?.burst).toBe(normalBurst);
  expect(share.high).toBeUndefined();
});

test('no answer yet (0 members) counts as this process alone', () => {
  expect(shareOf(parseAdmission('low=8/s'), 0).low).toEqual({ perSecond: 8, burst: 8 });
});

test.each([
  // ttl, next expiry of any member, check in again after
  [6_000, undefined, 2_000],
  [6_000, 5_000, 2_000], // every member renewed recently: the usual beat
  [6_000, 1_200, 1_250], // one is overdue: look again just after it expires
  [6_000, 0, 100], // never a busy loop
])('ttl %i, next expiry %p → check in after %i ms', (ttl, next, after) => {
  expect(nextCheckInMs(ttl, next)).toBe(after);
});

test('TIDEWAY_ADMISSION_SCOPE and TIDEWAY_ADMISSION_TTL shape a fixed budget; other modes ignore them', () => {
  expect(loadSettings({ TIDEWAY_ADMISSION: 'low=8/s' }).admission).toEqual({ kind: 'fixed', spec: { low: { perSecond: 8, burst: 8 } } });
  expect(
    loadSettings({ TIDEWAY_ADMISSION: 'low=8/s', TIDEWAY_ADMISSION_SCOPE: 'process', TIDEWAY_ADMISSION_TTL: '10s' }).admission,
  ).toEqual({
    kind: 'fixed',
    spec: { low: { perSecond: 8, burst: 8 } },
    scope: 'process',
    memberTtlMs: 10_000,
  });
  expect(loadSettings({ TIDEWAY_ADMISSION_SCOPE: 'process' }).admission).toEqual({ kind: 'adaptive', objectiveMs: 250 });
  expect(() => loadSettings({ TIDEWAY_ADMISSION_TTL: '1s' })).toThrow(/TIDEWAY_ADMISSION_TTL/);
  expect(() => loadSettings({ TIDEWAY_ADMISSION_SCOPE: 'host' })).toThrow(/TIDEWAY_ADMISSION_SCOPE/);
});

test('a per-process budget says so; a shared one reads as TIDEWAY_ADMISSION writes it', () => {
  const spec = parseAdmission('low=2/s');
  expect(formatAdmissionMode({ kind: 'fixed', spec })).toBe('low=2/s,burst=2');
  expect(formatAdmissionMode({ kind: 'fixed', spec, scope: 'process' })).toBe('low=2/s,burst=2 (per process)');
});
