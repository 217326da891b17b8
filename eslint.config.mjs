import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Dependencies point one way: controllers → services → policy, repositories, libs. Each rule below
// names what a folder of src/ may not import; `no-restricted-imports` options do not merge across
// config objects, so every folder's list repeats the one for kafkajs.
const KAFKAJS = {
  name: 'kafkajs',
  message: 'Only libs/kafka may import kafkajs; use @omnigate/kafka.',
};

/** An import that reaches into one of these src/ folders, relatively or through baseUrl. */
function into(folders, message) {
  return { regex: `^(?:(?:\\.\\./)+|src/)(?:${folders.join('|')})(?:/|$)`, message };
}

function imports(patterns) {
  return { 'no-restricted-imports': ['error', { paths: [KAFKAJS], patterns }] };
}

const REPOSITORIES = into(
  ['services', 'controllers', 'admin', 'console'],
  'Repositories sit below the use cases: they may import policy (the domain model), config and libs, never services, controllers or admin.',
);

const SERVICES_TO_CONTROLLERS = into(
  ['controllers', 'admin', 'console'],
  'Services are called by controllers and admin, never the other way round.',
);

const CONFIG = into(
  ['services', 'repositories', 'controllers', 'console'],
  'Config is read by everyone, so it may import only policy (the domain model it validates) and libs.',
);

const POLICY = [
  into(
    ['repositories', 'config', 'services', 'controllers', 'observability', 'admin', 'console'],
    'Policy is pure decisions over its input: it imports no other folder of src/.',
  ),
  {
    regex:
      '^(?:node:)?(?:fs|net|http|https|http2|tls|dgram|dns|child_process|cluster|worker_threads)(?:/|$)',
    message: 'Policy does no I/O: the caller reads and passes what the decision needs.',
  },
  {
    regex:
      '^(?:pg|pg-.*|ioredis|kysely|@electric-sql/.*|@nestjs/.*|express|@opentelemetry/.*|prom-client|pino|opossum|twilio|@sendgrid/.*|firebase-admin|web-push|jose|@omnigate/(?:kafka|channels|sandbox))$',
    message: 'Policy does no I/O: the caller reads and passes what the decision needs.',
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'jest.config.js', 'eslint.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { paths: [KAFKAJS] }],
    },
  },
  { files: ['src/repositories/**/*.ts'], rules: imports([REPOSITORIES]) },
  { files: ['src/services/**/*.ts'], rules: imports([SERVICES_TO_CONTROLLERS]) },
  {
    // Exception: the shutdown sequence orders the whole app's stop, the send consumers first, so
    // it needs KafkaConsumers; it belongs beside app.module.ts rather than among the use cases.
    files: ['src/services/shutdown-sequence.ts'],
    rules: imports([
      into(
        ['controllers/(?!kafka-consumers$)[^/]+', 'admin', 'console'],
        SERVICES_TO_CONTROLLERS.message,
      ),
    ]),
  },
  { files: ['src/config/**/*.ts'], rules: imports([CONFIG]) },
  {
    files: ['src/policy/**/*.ts'],
    rules: {
      ...imports(POLICY),
      // Randomness and the clock are passed in, so the same input always gives the same decision.
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Take a random source as input.' },
        { object: 'Date', property: 'now', message: 'Take the time as input.' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Take the time as input.',
        },
      ],
    },
  },
  {
    files: ['libs/kafka/**/*.ts', 'test/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
