import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { validateSendCommand, type SendCommand } from '@omnigate/contracts';
import { loadConfig, type AppConfig } from '../../config/environment';
import { TemplateRepository } from '../../repositories/template.repository';
import { ContentError, ContentRenderer } from './content-renderer';
import { MINIMAL_TEST_ENVIRONMENT } from '../../config/testing';

const TEMPLATES = resolve(__dirname, '..', '..', '..', 'templates');

function config(overrides: Record<string, string> = {}): AppConfig {
  const loaded = loadConfig({
    ...MINIMAL_TEST_ENVIRONMENT,
    ...overrides,
  });
  if (!loaded.ok) throw new Error(loaded.problems.join('; '));
  return loaded.config;
}

function command(fields: Record<string, unknown>): SendCommand {
  const result = validateSendCommand({
    id: 'm-1',
    customerId: 'c-1',
    category: 'order_updates',
    recipient: { phone: '+14155550100' },
    ...fields,
  });
  if (!result.ok) throw new Error(result.rejection.message);
  return result.command;
}

const data = { name: 'Lin <b>', orderId: 'A-1', trackingUrl: 'https://t.example/1?a=1&b=2' };

describe('ContentRenderer with the shipped templates', () => {
  const renderer = new ContentRenderer(new TemplateRepository(TEMPLATES), config());

  it('falls back zh-TW → zh for a channel the zh-TW file lacks, and uses zh-TW where it has one', () => {
    const cmd = command({ template: { id: 'order_shipped', locale: 'zh-TW', data } });
    expect(renderer.render(cmd, 'sms').locale).toBe('zh-TW');
    const whatsapp = renderer.render(cmd, 'whatsapp');
    expect(whatsapp.locale).toBe('zh');
    expect(whatsapp.content).toEqual({ text: 'Lin <b>，您好！您的订单 A-1 已发货 📦' });
  });

  it('escapes HTML only in html parts, and measures SMS as UCS-2 when Chinese or emoji appear', () => {
    const cmd = command({ template: { id: 'order_shipped', locale: 'zh-CN', data } });
    const email = renderer.render(cmd, 'email').content as { html: string; text: string };
    expect(email.html).toContain('Lin &lt;b&gt;');
    expect(email.text).toContain('Lin <b>');
    const sms = renderer.render(cmd, 'sms');
    expect(sms.sms?.encoding).toBe('UCS-2');
    expect(sms.sms?.segments).toBe(1);
    expect((sms.content as { text: string }).text).toContain('https://t.example/1?a=1&b=2');
  });

  it('uses the default file for an unknown locale and keeps Arabic intact', () => {
    expect(
      renderer.render(command({ template: { id: 'order_shipped', locale: 'fr', data } }), 'sms')
        .locale,
    ).toBe('default');
    const arabic = renderer.render(
      command({ template: { id: 'order_shipped', locale: 'ar-EG', data } }),
      'sms',
    );
    expect((arabic.content as { text: string }).text).toBe('مرحبا Lin <b>، تم شحن طلبك A-1 📦');
  });

  it('turns a WhatsApp template part into an approved-template reference with the data as variables', () => {
    const cmd = command({ template: { id: 'otp_code', data: { code: '482913', minutes: 10 } } });
    expect(renderer.render(cmd, 'whatsapp').content).toEqual({
      template: { name: 'otp_code', language: 'en', variables: { code: '482913', minutes: '10' } },
    });
  });

  it.each([
    ['an unknown template', { template: { id: 'nope', data } }, 'sms', 'TEMPLATE_NOT_FOUND'],
    [
      'a channel the template lacks',
      { template: { id: 'otp_code', data: { code: '1', minutes: 1 } } },
      'webpush',
      'TEMPLATE_CHANNEL_MISSING',
    ],
    [
      'missing template data',
      { template: { id: 'otp_code', data: { code: '1' } } },
      'sms',
      'TEMPLATE_DATA_MISSING',
    ],
    [
      'no inline content for the channel',
      { content: { email: { subject: 's', text: 't' } } },
      'sms',
      'NO_CONTENT',
    ],
  ] as const)('refuses %s', (_name, fields, channel, code) => {
    expect(() => renderer.render(command(fields), channel)).toThrow(
      expect.objectContaining({ code }) as ContentError,
    );
  });

  it('refuses an SMS over the segment limit instead of truncating it', () => {
    const small = new ContentRenderer(
      new TemplateRepository(TEMPLATES),
      config({ SMS_MAX_SEGMENTS: '2' }),
    );
    const cmd = command({ content: { sms: { text: '好'.repeat(135) } } });
    expect(() => small.render(cmd, 'sms')).toThrow(/3 UCS-2 segments, over the limit of 2/);
    expect(
      small.render(command({ content: { sms: { text: '好'.repeat(134) } } }), 'sms').sms?.segments,
    ).toBe(2);
  });
});

describe('ContentRenderer checks what a template renders', () => {
  const dir = mkdtempSync(join(tmpdir(), 'templates-'));
  writeFileSync(
    join(dir, 'promo.json'),
    JSON.stringify({
      email: { subject: 'Hello {{name}}', text: 'Hi' },
      webpush: { title: 'Hello {{name}}', body: 'Hi', url: '{{link}}' },
    }),
  );
  const renderer = new ContentRenderer(new TemplateRepository(dir), config());
  const render = (channel: 'email' | 'webpush', data: Record<string, string>) =>
    renderer.render(command({ template: { id: 'promo', data } }), channel);

  it('passes content that keeps the rules', () => {
    expect(render('webpush', { name: 'Lin', link: 'https://shop.example/1' }).content).toEqual({
      title: 'Hello Lin',
      body: 'Hi',
      url: 'https://shop.example/1',
    });
  });

  it.each([
    [
      'an http link',
      'webpush',
      { name: 'Lin', link: 'http://shop.example/1' },
      'url: must be an https:// URL',
    ],
    ['a javascript: link', 'webpush', { name: 'Lin', link: 'javascript:alert(1)' }, 'url: must be'],
    [
      'a line break in a subject',
      'email',
      { name: 'Lin\r\nBcc: x@example.com', link: '' },
      'subject: must not contain control characters',
    ],
    [
      'a title over 256 characters',
      'webpush',
      { name: 'x'.repeat(300), link: 'https://a.example' },
      'title: ',
    ],
  ] as const)(
    'refuses %s with RENDERED_CONTENT_INVALID, quoting nothing',
    (_name, channel, data, problem) => {
      const error = thrownBy(() => render(channel, data));
      expect(error).toBeInstanceOf(ContentError);
      expect(error).toMatchObject({ code: 'RENDERED_CONTENT_INVALID' });
      const { message } = error as ContentError;
      expect(message).toContain(`template "promo" (default) renders ${channel} content`);
      expect(message).toContain(problem);
      for (const value of Object.values(data).filter(Boolean)) expect(message).not.toContain(value);
    },
  );
});

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('TemplateRepository', () => {
  it('stops start-up naming every broken file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'templates-'));
    writeFileSync(join(dir, 'good.json'), JSON.stringify({ sms: { text: 'hi {{name}}' } }));
    writeFileSync(join(dir, 'broken.json'), JSON.stringify({ sms: { text: 'hi {{#if}}' } }));
    writeFileSync(join(dir, 'typo.json'), JSON.stringify({ sms: { txt: 'hi' } }));
    writeFileSync(join(dir, 'Bad Name.json'), '{}');
    expect(() => new TemplateRepository(dir)).toThrow(/broken\.json.*typo\.json|Bad Name\.json/);
    try {
      new TemplateRepository(dir);
    } catch (error) {
      const message = String(error);
      for (const file of ['broken.json', 'typo.json', 'Bad Name.json'])
        expect(message).toContain(file);
      expect(message).not.toContain('good.json');
    }
  });
});
