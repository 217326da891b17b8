import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CATEGORY_POLICIES, loadCategoryPolicies } from './policies';

function load(policies: unknown): { loaded: unknown; problems: string[] } {
  const file = join(mkdtempSync(join(tmpdir(), 'policies-')), 'policies.json');
  writeFileSync(file, JSON.stringify(policies));
  const problems: string[] = [];
  return { loaded: loadCategoryPolicies(file, problems), problems };
}

const reminder = {
  category: 'reminders',
  transactional: true,
  optOutAllowed: true,
  allowedChannels: ['sms', 'email'],
  fallbackChain: ['sms', 'email'],
  quietHours: 'defer',
  ttlSeconds: 3600,
};

describe('category policies: escalation', () => {
  it('accepts an escalation and keeps it', () => {
    const { loaded, problems } = load([
      { ...reminder, escalation: { unless: 'read', afterSeconds: 900 } },
    ]);
    expect(problems).toEqual([]);
    expect(loaded).toEqual([
      { ...reminder, requiresConsent: false, escalation: { unless: 'read', afterSeconds: 900 } },
    ]);
  });

  it.each([
    ['an unknown condition', { unless: 'opened', afterSeconds: 600 }, /escalation\.unless/],
    ['a fraction of a second', { unless: 'delivered', afterSeconds: 60.5 }, /afterSeconds/],
    ['less than 10 seconds', { unless: 'delivered', afterSeconds: 5 }, /afterSeconds/],
    ['an unknown field', { unless: 'delivered', afterSeconds: 600, to: 'email' }, /to/],
    [
      'a wait as long as the message lives',
      { unless: 'delivered', afterSeconds: 3600 },
      /reminders: escalation.afterSeconds \(3600\) must be shorter than ttlSeconds \(3600\)/,
    ],
  ])('refuses %s, naming the file', (_name, escalation, message) => {
    const { problems } = load([{ ...reminder, escalation }]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^CATEGORY_POLICIES_FILE: /);
    expect(problems[0]).toMatch(message);
  });

  it('has one escalating category among the defaults, and leaves the others as they were', () => {
    const escalating = DEFAULT_CATEGORY_POLICIES.filter((p) => p.escalation);
    expect(escalating.map((p) => [p.category, p.escalation])).toEqual([
      ['appointment_reminders', { unless: 'delivered', afterSeconds: 600 }],
    ]);
  });
});
