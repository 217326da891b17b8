import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SandboxSuite } from '@omnigate/sandbox';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { adminApiKeys, seedCustomerWithMessage } from './support/admin';
import { gatewayEnv } from './support/env';
import { GatewayProcess, OUTPUT_DIR } from './support/gateway';
import {
  createTestTopics,
  publish,
  testKafka,
  TopicReader,
  type TestTopics,
} from './support/kafka';
import { DATABASE_URL, dropSchema, REDIS_URL, uniqueSchema } from './support/storage';
import { until } from './support/wait';

/**
 * The support console in headless Chromium (Debian's package, driven by playwright-core) against
 * the built gateway, the real broker, PostgreSQL, Redis and the provider sandbox: an agent signs
 * in, finds a customer, opens a message's timeline with the provider's reports, dry-runs a resend
 * and sends it, and withdraws a pending message after a dry run; a viewer sees masked contacts and
 * no resend form. The timeline is saved as a screenshot in test-output/.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const kafka = testKafka();
const schema = uniqueSchema();
const apiKeys = adminApiKeys();
const customerId = `cust-${randomUUID().slice(0, 8)}`;
const originalId = `cmd-${randomUUID()}`;
const PHONE = '+14155550177';
const EMAIL = 'ana.souza@example.com';

let suite: SandboxSuite;
let topics: TestTopics;
let gateway: GatewayProcess;
let receipts: TopicReader;
let browser: Browser;
let page: Page;
let base: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set CHROMIUM_PATH`,
    );
  }
  // The providers report back, so the timeline has their delivery reports to show.
  suite = await SandboxSuite.start({ webhooks: { twilio: { delayMs: 50 }, pushAcks: false } });
  topics = await createTestTopics(kafka, 2);
  gateway = await GatewayProcess.start(
    gatewayEnv(topics, {
      ...suite.gatewayEnvironment(),
      DATABASE_URL,
      DATABASE_SCHEMA: schema,
      REDIS_URL,
      ADMIN_API_KEYS: apiKeys.env,
    }),
    'support-console',
  );
  base = `http://127.0.0.1:${gateway.port}`;
  suite.routeWebhooksTo(base);
  receipts = await new TopicReader(kafka, topics.receipts).start();
  await seedCustomerWithMessage({
    kafka,
    topics,
    receipts,
    schema,
    customerId,
    profile: {
      phones: [{ value: PHONE, verified: true }],
      emails: [{ value: EMAIL }],
      channelPreferences: { '*': { whatsapp: false } },
      timeZone: 'America/Sao_Paulo',
    },
    command: {
      id: originalId,
      category: 'order_updates',
      channels: ['sms'],
      content: {
        sms: { text: 'Seu pedido foi enviado' },
        email: { subject: 'Pedido enviado', text: 'Seu pedido foi enviado' },
        whatsapp: { text: 'Seu pedido foi enviado' },
      },
    },
  });

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root in a closed network: no sandbox, and no background calls to Google's hosts.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
});

afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
  await receipts?.stop();
  await suite?.close();
  await dropSchema(schema);
});

/** Waits until the element's visible text contains `text`; fails with what it showed instead. */
async function seeText(target: Locator | string, text: string, ms = 15000): Promise<void> {
  const locator = typeof target === 'string' ? page.locator(target) : target;
  let last = '';
  try {
    await until(
      `"${text}"`,
      async () => {
        last =
          (await locator
            .first()
            .innerText()
            .catch(() => '')) ?? '';
        return last.includes(text);
      },
      ms,
    );
  } catch {
    throw new Error(`expected "${text}" on the page, saw: ${last.slice(0, 600)}`);
  }
}

async function eventually(what: string, probe: () => Promise<boolean>): Promise<void> {
  await until(what, probe, 15000);
}

const resendButton = (): Locator => page.getByRole('button', { name: 'Resend now' });

async function signIn(token: string): Promise<void> {
  await page.getByLabel('API key or access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

describe('support console', () => {
  it('is served with a strict content security policy and nothing inline', async () => {
    const response = await fetch(`${base}/console`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const html = await response.text();
    expect(html.match(/<script\b[^>]*>/g)).toEqual([
      '<script type="module" src="/console/console.js">',
    ]);
    expect(html).not.toContain('style=');
    expect((await fetch(`${base}/console/..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${base}/console/package.json`)).status).toBe(404);
  });

  it('refuses an unknown key, then signs an agent in', async () => {
    await page.goto(`${base}/console`);
    await signIn('not-a-key-anyone-has');
    await seeText(page.getByRole('alert'), 'the API key is not known');
    await signIn(apiKeys.secrets.agent);
    await seeText(page.locator('#who'), 'Signed in as key-agent (agent)');
  });

  it('finds the customer and lists the message, contacts masked for an agent', async () => {
    await page.getByLabel('Customer id').fill(customerId);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: originalId }).waitFor({ state: 'visible' });
    const profile = page.locator('#profile');
    await seeText(profile, '+1 ••••••••77');
    await seeText(profile, 'WhatsApp (all categories)');
    expect(await page.content()).not.toContain(PHONE);
    expect(await page.content()).not.toContain(EMAIL);
  });

  it('opens the timeline with the decision trace in words', async () => {
    await page.getByRole('link', { name: originalId }).click();
    await page
      .getByRole('heading', { name: `Message ${originalId}` })
      .waitFor({ state: 'visible' });
    await seeText(page.locator('#message-summary'), 'sent');
    await seeText(page.locator('#trace'), 'SMS');
    await page.locator('#trace li').first().waitFor({ state: 'visible' });
    await seeText(page.locator('#attempts'), 'twilio');
    await seeText(page.locator('#attempts'), 'accepted');
    // A sent message cannot be withdrawn: the agent is not offered a cancel.
    expect(await page.locator('#cancel-panel').isHidden()).toBe(true);
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({
      path: join(OUTPUT_DIR, 'support-console-timeline.png'),
      fullPage: true,
    });
  });

  it("shows the provider's delivery report beside the receipts", async () => {
    await until(
      "Twilio's delivered report on the timeline",
      async () => {
        await page.reload();
        await page.locator('#events li').first().waitFor({ state: 'visible' });
        return (await page.locator('#events').innerText()).includes('twilio reported delivered');
      },
      20000,
    );
    await seeText(page.locator('#events'), 'delivered');
  });

  it('shows a dry run first, without any provider request', async () => {
    const before = suite.sendgrid.requests.length + suite.twilio.requests.length;
    await page.getByLabel('Resend on channel').selectOption('email');
    await page.getByLabel('Reason (kept in the audit log)').fill('customer did not get the SMS');
    await eventually('Resend now disabled', () => resendButton().isDisabled());
    await page.getByRole('button', { name: 'Preview (dry run)' }).click();
    const verdict = page.locator('#dry-run-result');
    await seeText(verdict, 'would send on Email through sendgrid');
    await eventually('Resend now enabled', () => resendButton().isEnabled());
    expect(suite.sendgrid.requests.length + suite.twilio.requests.length).toBe(before);

    // A WhatsApp resend is refused in words: the customer opted out.
    await page.getByLabel('Resend on channel').selectOption('whatsapp');
    await eventually('Resend now disabled', () => resendButton().isDisabled());
    await page.getByRole('button', { name: 'Preview (dry run)' }).click();
    await seeText(verdict, 'Refused');
    await seeText(verdict, 'opted out of WhatsApp');
    await eventually('Resend now disabled', () => resendButton().isDisabled());
  });

  it('resends on email after the preview and follows it until it is sent', async () => {
    const mailsBefore = suite.sendgrid.acceptedMails.length;
    await page.getByLabel('Resend on channel').selectOption('email');
    // The agent picks the contact from the profile's masked list; the console sends its index.
    const contacts = page.getByLabel("Contact on the customer's profile");
    await seeText(contacts, 'a•••@e•••.com');
    await contacts.selectOption({ label: 'a•••@e•••.com' });
    await page.getByRole('button', { name: 'Preview (dry run)' }).click();
    await seeText(page.locator('#dry-run-result'), 'would send on Email');
    await page.getByRole('button', { name: 'Resend now' }).click();
    await seeText(page.locator('#resend-result'), 'Resent as resend-');
    await until(
      'the resend to be sent',
      async () =>
        (await page.locator('[data-resend-status]').getAttribute('data-resend-status')) === 'sent',
      30000,
    );
    await seeText(page.locator('#resend-result'), 'on Email via sendgrid');
    await until('the resent mail', () => suite.sendgrid.acceptedMails.length > mailsBefore);
    expect(JSON.stringify(suite.sendgrid.acceptedMails.slice(mailsBefore))).toContain(EMAIL);

    // The original's timeline now lists the resend.
    await page.reload();
    await seeText(page.locator('#resends'), 'resend-');
    await seeText(page.locator('#resends'), 'sent on Email');
    await page.screenshot({ path: join(OUTPUT_DIR, 'support-console-resent.png'), fullPage: true });
  });

  it('withdraws a pending message after a dry run, and the timeline says cancelled', async () => {
    // SendGrid asks to come back in ten minutes: the email waits in the scheduler.
    suite.sendgrid.setFailurePlan({ failNext: { count: 20, status: 429, retryAfterSeconds: 600 } });
    const pendingId = `cmd-${randomUUID()}`;
    await publish(kafka, topics.send, [
      {
        key: customerId,
        value: JSON.stringify({
          id: pendingId,
          customerId,
          category: 'order_updates',
          channels: ['email'],
          content: { email: { subject: 'Avaliação', text: 'Avalie seu pedido' } },
        }),
      },
    ]);
    await receipts.waitFor(
      () =>
        receipts.records.some((r) => r.value.includes(pendingId) && r.value.includes('deferred')),
      15000,
      'the deferred receipt',
    );
    suite.sendgrid.setFailurePlan({});

    await page.goto(`${base}/console#/message/${encodeURIComponent(pendingId)}`);
    await seeText(page.locator('#message-summary'), 'deferred');
    await page.locator('#cancel-panel').waitFor({ state: 'visible' });
    await page
      .getByLabel('Why it must not go out (on the CANCELLED receipt and in the audit log)')
      .fill('customer already reviewed the order by phone');
    await page.getByRole('button', { name: 'What would be withdrawn (dry run)' }).click();
    await seeText(page.locator('#cancel-result'), `Dry run: would withdraw ${pendingId}`);
    await seeText(page.locator('#message-summary'), 'deferred');

    await page.getByRole('button', { name: 'Cancel this message' }).click();
    await seeText(page.locator('#status'), 'Cancelled: it will not be sent.');
    await seeText(page.locator('#message-summary'), 'cancelled');
    await seeText(page.locator('#events'), 'customer already reviewed the order by phone');
    await page.locator('#cancel-panel').waitFor({ state: 'hidden' });
    await receipts.waitFor(
      () =>
        receipts.records.some((r) => r.value.includes(pendingId) && r.value.includes('cancelled')),
      15000,
      'the cancelled receipt',
    );
    await page.screenshot({
      path: join(OUTPUT_DIR, 'support-console-cancelled.png'),
      fullPage: true,
    });
    await page.goto(`${base}/console#/message/${encodeURIComponent(originalId)}`);
    await page
      .getByRole('heading', { name: `Message ${originalId}` })
      .waitFor({ state: 'visible' });
  });

  it('gives a viewer the timeline without the resend form', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(apiKeys.secrets.viewer);
    await seeText(page.locator('#who'), 'Signed in as key-viewer (viewer)');
    await page
      .getByRole('heading', { name: `Message ${originalId}` })
      .waitFor({ state: 'visible' });
    await page.locator('#resend-panel').waitFor({ state: 'hidden' });
    expect(await page.content()).not.toContain(PHONE);
  });

  it('ran without a script error or a failed request but the refused sign-in', () => {
    // The expected refusals: the unknown key's 401 and the opted-out WhatsApp dry run's 409.
    expect(pageErrors).toEqual([
      'Failed to load resource: the server responded with a status of 401 (Unauthorized)',
      'Failed to load resource: the server responded with a status of 409 (Conflict)',
    ]);
  });
});
