/**
 * The direction of imports between the folders of src/ is held by `no-restricted-imports` in
 * eslint.config.mjs, which `npm test` runs through `npm run lint`. Here ESLint's own Node API lints
 * synthetic files with the project's config, to show that each rule bites and that a clean file
 * passes. Type-aware rules are switched off (typescript-eslint's disableTypeChecked): the files do
 * not exist on disk, and the boundary rules need no types.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');

/**
 * ESLint loads eslint.config.mjs with a dynamic import, which jest's module system refuses without
 * --experimental-vm-modules, so the linting runs in a child Node (the one running jest).
 */
const LINT_SCRIPT = `
import { readFileSync } from 'node:fs';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
const BOUNDARY_RULES = new Set(['no-restricted-imports', 'no-restricted-properties', 'no-restricted-syntax']);
const eslint = new ESLint({
  cwd: process.cwd(),
  overrideConfig: [tseslint.configs.disableTypeChecked],
  ruleFilter: ({ ruleId }) => BOUNDARY_RULES.has(ruleId),
});
const jobs = JSON.parse(readFileSync(0, 'utf8'));
const answers = [];
for (const { filePath, source } of jobs) {
  const [result] = await eslint.lintText(source, { filePath });
  // A fatal parse error has no ruleId: it must fail a test, not pass as clean.
  answers.push(result.messages.map((m) => (m.ruleId ?? 'FATAL') + ': ' + m.message));
}
process.stdout.write(JSON.stringify(answers));
`;

interface Job {
  readonly filePath: string;
  readonly source: string;
}

/** The boundary rules' messages for each synthetic file, as "rule: message". */
function lintAll(jobs: readonly Job[]): string[][] {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', LINT_SCRIPT], {
    cwd: ROOT,
    input: JSON.stringify(jobs),
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`ESLint did not run:\n${result.stderr}`);
  return JSON.parse(result.stdout) as string[][];
}

/** A file that imports what a case names, and uses nothing else. */
const withImport = (source: string): string => `${source}\nexport const used = 1;\n`;

type Case = readonly [filePath: string, source: string];

const REFUSED: readonly Case[] = [
  ['src/repositories/x.ts', "import { DispatchService } from '../services/dispatch.service';"],
  ['src/repositories/database/x.ts', "import type { X } from '../../controllers/tokens';"],
  ['src/repositories/x.ts', "export { MessagesService } from '../admin/messages.service';"],
  ['src/policy/x.ts', "import { Clock } from '../repositories/clock';"],
  ['src/policy/x.ts', "import type { AppConfig } from '../config/environment';"],
  ['src/policy/x.ts', "import { DispatchService } from '../services/dispatch.service';"],
  ['src/policy/x.ts', "import { LOGGER } from '../observability/logger';"],
  ['src/policy/x.ts', "import { readFileSync } from 'node:fs';"],
  ['src/policy/x.ts', "import { request } from 'http';"],
  ['src/policy/x.ts', "import Redis from 'ioredis';"],
  ['src/policy/x.ts', "import { Pool } from 'pg';"],
  ['src/policy/x.ts', "import { Kysely } from 'kysely';"],
  ['src/policy/x.ts', "import { Kafka } from 'kafkajs';"],
  ['src/policy/x.ts', "import { ChannelRouter } from '@omnigate/channels';"],
  ['src/policy/x.ts', "import { Injectable } from '@nestjs/common';"],
  ['src/config/x.ts', "import { DispatchService } from '../services/dispatch.service';"],
  ['src/config/x.ts', "import { Clock } from '../repositories/clock';"],
  ['src/services/x.ts', "import { KafkaConsumers } from '../controllers/kafka-consumers';"],
  ['src/services/content/x.ts', "import { ResendService } from '../../admin/resend.service';"],
  // The shutdown sequence's exception is for the consumers only.
  [
    'src/services/shutdown-sequence.ts',
    "import { HealthController } from '../controllers/health.controller';",
  ],
];

const ALLOWED: readonly Case[] = [
  [
    'src/repositories/x.ts',
    "import type { CapRule } from '../policy/frequency-caps';\nimport type { AppConfig } from '../config/environment';",
  ],
  [
    'src/config/x.ts',
    "import type { CategoryPolicy } from '../policy/model';\nimport { readFileSync } from 'node:fs';",
  ],
  [
    'src/policy/x.ts',
    "import type { Channel } from '@omnigate/contracts';\nimport { DateTime } from 'luxon';\nimport { plan } from './planner';",
  ],
  [
    'src/services/x.ts',
    "import { Clock } from '../repositories/clock';\nimport { plan } from '../policy/planner';",
  ],
  ['src/controllers/x.ts', "import { IntakeService } from '../services/intake.service';"],
  [
    'src/services/shutdown-sequence.ts',
    "import { KafkaConsumers } from '../controllers/kafka-consumers';",
  ],
];

// Policy takes randomness and the time as input; elsewhere they are fine.
const IMPURE: ReadonlyArray<readonly [call: string, rule: string]> = [
  ['Math.random()', 'no-restricted-properties'],
  ['Date.now()', 'no-restricted-properties'],
  ['new Date()', 'no-restricted-syntax'],
];

describe('import boundaries between the folders of src/', () => {
  const impure = (call: string): string => `export const value = ${call};\n`;
  let answers: string[][] = [];
  beforeAll(() => {
    answers = lintAll([
      ...REFUSED.map(([filePath, source]) => ({ filePath, source: withImport(source) })),
      ...ALLOWED.map(([filePath, source]) => ({ filePath, source: withImport(source) })),
      ...IMPURE.map(([call]) => ({ filePath: 'src/policy/x.ts', source: impure(call) })),
      ...IMPURE.map(([call]) => ({ filePath: 'src/services/x.ts', source: impure(call) })),
    ]);
  });

  it.each(REFUSED.map((c, i) => [...c, i] as const))('%s may not: %s', (_file, _source, i) => {
    expect(answers[i]).toEqual([expect.stringMatching(/^no-restricted-imports: /)]);
  });

  it.each(ALLOWED.map((c, i) => [...c, REFUSED.length + i] as const))(
    '%s may: %s',
    (_file, _source, i) => {
      expect(answers[i]).toEqual([]);
    },
  );

  it.each(IMPURE.map((c, i) => [...c, REFUSED.length + ALLOWED.length + i] as const))(
    'policy may not call %s (%s); services may',
    (_call, rule, i) => {
      expect(answers[i]).toEqual([expect.stringMatching(new RegExp(`^${rule}: `))]);
      expect(answers[i + IMPURE.length]).toEqual([]);
    },
  );
});
