// The fault suite (test/faults): real processes killed, a Temporal server restarted, a worker cut
// off. Kept out of `npm test` (it takes minutes); `npm run test:faults` runs it, and .ci/run does too.
const base = require('./jest.config.js');
const integration = base.projects.find((p) => p.displayName === 'integration');

/** @type {import('jest').Config} */
module.exports = {
  projects: [{ ...integration, displayName: 'faults', testMatch: ['<rootDir>/test/faults/**/*.test.ts'] }],
  // Like the integration tier: one server, the demo's queue names, so one file at a time.
  maxWorkers: 1,
  reporters: base.reporters,
  forceExit: true,
};
