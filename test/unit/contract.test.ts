import {
  MESSAGES,
  attemptFailedSignal,
  attemptStartedSignal,
  discardSignal,
  pauseSignal,
  redriveSignal,
  resumeSignal,
  stateQuery,
} from '../../config/messages';

describe("runTask's Temporal contract", () => {
  it('keeps the public message names (plain clients and batch jobs send them)', () => {
    expect([stateQuery, attemptStartedSignal, attemptFailedSignal, pauseSignal, resumeSignal, redriveSignal, discardSignal]).toEqual([
      { type: 'query', name: 'state' },
      { type: 'signal', name: 'tideway.attemptStarted' },
      { type: 'signal', name: 'tideway.attemptFailed' },
      { type: 'signal', name: 'pause' },
      { type: 'signal', name: 'resume' },
      { type: 'signal', name: 'redrive' },
      { type: 'signal', name: 'discard' },
    ]);
    expect(MESSAGES).toEqual({
      stateQuery: 'state',
      attemptStartedSignal: 'tideway.attemptStarted',
      attemptFailedSignal: 'tideway.attemptFailed',
      pauseSignal: 'pause',
      resumeSignal: 'resume',
      redriveSignal: 'redrive',
      discardSignal: 'discard',
    });
  });
});
