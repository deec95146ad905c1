import {
  AdmissionConfigError,
  DEFAULT_HIGH_WAIT_OBJECTIVE_MS,
  formatAdmission,
  formatAdmissionMode,
  parseAdmission,
  parseAdmissionMode,
} from '../../config/admission';

describe('parseAdmission', () => {
  test('reads lanes, rates and bursts', () => {
    expect(parseAdmission('low=8/s')).toEqual({ low: { perSecond: 8, burst: 8 } });
    expect(parseAdmission('low=0.5/s;normal=50/s,burst=100')).toEqual({
      low: { perSecond: 0.5, burst: 1 },
      normal: { perSecond: 50, burst: 100 },
    });
    expect(parseAdmission(undefined)).toEqual({});
    expect(parseAdmission('off')).toEqual({});
    expect(formatAdmission(parseAdmission('low=8/s;normal=100/s,burst=5'))).toBe('normal=100/s,burst=5;low=8/s,burst=8');
  });

  test('rejects what it cannot read, naming the part', () => {
    expect(() => parseAdmission('bulk=8/s')).toThrow(AdmissionConfigError);
    expect(() => parseAdmission('low=8')).toThrow(/"low=8".*<lane>=<n>\/s/);
    expect(() => parseAdmission('low=0/s')).toThrow(/rate above 0/);
  });

  test('the high lane is never paced: a budget for it is an error, not silently ignored', () => {
    expect(() => parseAdmission('high=100/s')).toThrow(/high lane is never paced/);
  });
});

describe('parseAdmissionMode', () => {
  test.each([
    [undefined, { kind: 'adaptive', objectiveMs: DEFAULT_HIGH_WAIT_OBJECTIVE_MS }],
    ['adaptive', { kind: 'adaptive', objectiveMs: DEFAULT_HIGH_WAIT_OBJECTIVE_MS }],
    [' adaptive ', { kind: 'adaptive', objectiveMs: DEFAULT_HIGH_WAIT_OBJECTIVE_MS }],
    ['off', { kind: 'off' }],
    ['', { kind: 'off' }],
    ['low=2/s', { kind: 'fixed', spec: { low: { perSecond: 2, burst: 2 } } }],
    ['low=8/s;normal=50/s,burst=100', { kind: 'fixed', spec: { low: { perSecond: 8, burst: 8 }, normal: { perSecond: 50, burst: 100 } } }],
  ])('%j → %j', (text, mode) => {
    expect(parseAdmissionMode(text)).toEqual(mode);
  });

  test('the objective is passed in (it is its own setting)', () => {
    expect(parseAdmissionMode('adaptive', 400)).toEqual({ kind: 'adaptive', objectiveMs: 400 });
    expect(() => parseAdmissionMode('fast')).toThrow(AdmissionConfigError);
  });

  test('formats each mode for `tideway dev` and `config check`', () => {
    expect(formatAdmissionMode({ kind: 'adaptive', objectiveMs: 250 })).toBe('adaptive (high-lane wait objective 250 ms)');
    expect(formatAdmissionMode({ kind: 'off' })).toBe('off');
    expect(formatAdmissionMode(parseAdmissionMode('low=2/s'))).toBe('low=2/s,burst=2');
  });
});
