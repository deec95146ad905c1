import {
  AdmissionConfigError,
  AdmissionThrottledError,
  DEV_SERVER_ADMISSION,
  LaneAdmission,
  admissionFor,
  formatAdmission,
  parseAdmission,
} from '../../config/admission';

describe('parseAdmission', () => {
  test('reads lanes, rates and bursts; empty and "off" mean no budget', () => {
    expect(parseAdmission('low=8/s')).toEqual({ low: { perSecond: 8, burst: 8 } });
    expect(parseAdmission('low=0.5/s;normal=50/s,burst=100')).toEqual({
      low: { perSecond: 0.5, burst: 1 },
      normal: { perSecond: 50, burst: 100 },
    });
    expect(parseAdmission(undefined)).toEqual({});
    expect(parseAdmission('off')).toEqual({});
    expect(formatAdmission(parseAdmission('low=8/s;high=100/s,burst=5'))).toBe('high=100/s,burst=5;low=8/s,burst=8');
  });

  test('a bad entry names itself and the expected form', () => {
    expect(() => parseAdmission('bulk=8/s')).toThrow(AdmissionConfigError);
    expect(() => parseAdmission('low=8')).toThrow(/"low=8".*<lane>=<n>\/s/);
    expect(() => parseAdmission('low=0/s')).toThrow(/rate above 0/);
  });
});

describe('admissionFor', () => {
  test('the embedded server gets a low-lane budget; another server none unless TIDEWAY_ADMISSION says so', () => {
    expect(admissionFor(undefined, true)).toEqual(parseAdmission(DEV_SERVER_ADMISSION));
    expect(Object.keys(admissionFor(undefined, true))).toEqual(['low']);
    expect(admissionFor(undefined, false)).toEqual({});
    expect(admissionFor('off', true)).toEqual({});
    expect(admissionFor('normal=5/s', false)).toEqual({ normal: { perSecond: 5, burst: 5 } });
  });
});

describe('LaneAdmission (clock injected)', () => {
  function paced(spec: string) {
    let t = 1_000_000;
    const a = new LaneAdmission(parseAdmission(spec), () => t);
    return { a, advance: (ms: number) => (t += ms) };
  }

  test('a burst goes at once, then starts are spaced by 1/rate', () => {
    const { a } = paced('low=4/s,burst=2');
    const waits = Array.from({ length: 5 }, () => a.reserve('low', 60_000));
    expect(waits).toEqual([0, 0, 250, 500, 750]);
  });

  test('unpaced lanes never wait, and lanes do not share a budget', () => {
    const { a } = paced('low=1/s,burst=1');
    expect(a.reserve('low', 60_000)).toBe(0);
    expect(a.reserve('low', 60_000)).toBe(1000);
    expect(a.reserve('high', 60_000)).toBe(0);
    expect(a.reserve('normal', 60_000)).toBe(0);
  });

  test('the budget refills with time', () => {
    const { a, advance } = paced('low=2/s,burst=1');
    expect(a.reserve('low', 60_000)).toBe(0);
    expect(a.reserve('low', 60_000)).toBe(500);
    advance(2_000);
    expect(a.reserve('low', 60_000)).toBe(0);
  });

  test('a wait beyond maxWait throws with when to retry, and reserves nothing', () => {
    const { a } = paced('low=1/s,burst=1');
    a.reserve('low', 0);
    a.reserve('low', 5_000); // due in 1 s
    let err: unknown;
    try {
      a.reserve('low', 1_500); // would be due in 2 s
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AdmissionThrottledError);
    expect(err).toMatchObject({ type: 'AdmissionThrottled', lane: 'low', retryAfterMs: 500 });
    // Nothing was reserved by the refused call: the next one with room is still due in 2 s.
    expect(a.reserve('low', 5_000)).toBe(2000);
  });
});
