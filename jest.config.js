// Two projects: fast unit specs beside the code, and integration/e2e specs under test/ that talk
// to the real Kafka broker (started once by `npm test` before jest runs).
const moduleNameMapper = {
  '^@omnigate/(common|contracts|kafka|channels|sandbox)$': '<rootDir>/libs/$1/src/index.ts',
};
const transform = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
};
module.exports = {
  // Integration tests start processes and wait on a real broker; unit specs finish far sooner.
  testTimeout: 180000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/src', '<rootDir>/libs', '<rootDir>/scripts'],
      testMatch: ['**/*.spec.ts'],
      moduleNameMapper,
      transform,
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
      moduleNameMapper,
      transform,
    },
  ],
};
