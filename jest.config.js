// Two tiers: pure unit tests, and integration tests against a real Temporal dev server that
// test/helpers/global-setup.ts starts once per run (workers are real processes from dist/).
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
};

// Tests import the package by name like the examples do; map it to the sources.
const moduleNameMapper = { '^tideway$': '<rootDir>/exports/index.ts', '^tideway/(.*)$': '<rootDir>/exports/$1.ts' };

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      transform,
      moduleNameMapper,
      testEnvironment: 'node',
    },
    {
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      transform,
      moduleNameMapper,
      testEnvironment: 'node',
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
      slowTestThreshold: 60,
    },
  ],
  // Integration files share one server and the contract's queue names (tideway.demo.normal, ...),
  // so two files running at once would take each other's tasks: run files one at a time.
  maxWorkers: 1,
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
  // Worker processes are leak-checked per file; don't let a stray gRPC timer hold the run open.
  forceExit: true,
};
