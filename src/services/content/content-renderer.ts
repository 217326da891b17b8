import { Inject, Injectable } from '@nestjs/common';
import type { Channel, SendCommand } from '@omnigate/contracts';
import { describeSms, type ChannelContent, type SmsEnvelope } from '@omnigate/channels';
import type { AppConfig } from '../../config/environment';
import { APP_CONFIG } from '../../config/app-config.token';
import {
  DEFAULT_TEMPLATE_LOCALE,
  TemplateRepository,
  type CompiledText,
} from '../../repositories/template.repository';
import { localeFallbacks } from './locale-fallback';
import { checkRenderedContent } from './rendered-content';

export const CONTENT_ERROR_CODES = [
  'NO_CONTENT',
  'TEMPLATE_NOT_FOUND',
  'TEMPLATE_CHANNEL_MISSING',
  'TEMPLATE_DATA_MISSING',
  'SMS_TOO_LONG',
  'RENDERED_CONTENT_INVALID',
] as const;
export type ContentErrorCode = (typeof CONTENT_ERROR_CODES)[number];

/** The message cannot be built for this channel; permanent for this channel, not for the message. */
export class ContentError extends Error {
  constructor(
    readonly code: ContentErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ContentError';
  }
}

export interface RenderedContent<C extends Channel = Channel> {
  readonly content: ChannelContent<C>;
  /** The template locale actually used, when a template was rendered. */
  readonly locale?: string;
  readonly sms?: SmsEnvelope;
}

/**
 * Builds what one channel carries: the command's inline content, or its template rendered in the
 * best available locale. SMS bodies are measured, and a body over the segment limit is refused
 * rather than truncated.
 */
@Injectable()
export class ContentRenderer {
  constructor(
    private readonly templates: TemplateRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  render(command: SendCommand, channel: Channel, preferredLocale?: string): RenderedContent {
    const rendered = command.template
      ? this.renderTemplate(command.template, channel, preferredLocale)
      : this.inline(command, channel);
    if (channel !== 'sms') return rendered;
    const { text } = rendered.content as ChannelContent<'sms'>;
    const sms = describeSms(text);
    if (sms.segments > this.config.content.smsMaxSegments) {
      throw new ContentError(
        'SMS_TOO_LONG',
        `the SMS needs ${sms.segments} ${sms.encoding} segments, over the limit of ${this.config.content.smsMaxSegments}`,
      );
    }
    return { ...rendered, sms };
  }

  /** Whether this channel has something to carry, without rendering it. */
  hasContentFor(command: SendCommand, channel: Channel): boolean {
    if (!command.template) return Boolean(command.content?.[channel]);
    const chain = [
      ...localeFallbacks(command.template.locale, this.config.content.defaultLocale),
      DEFAULT_TEMPLATE_LOCALE,
    ];
    return chain.some((locale) =>
      Boolean(this.templates.find(command.template!.id, locale)?.parts[channel]),
    );
  }

  private inline(command: SendCommand, channel: Channel): RenderedContent {
    const content = command.content?.[channel];
    if (!content) throw new ContentError('NO_CONTENT', `the command has no ${channel} content`);
    return { content };
  }

  private renderTemplate(
    template: NonNullable<SendCommand['template']>,
    channel: Channel,
    preferredLocale: string | undefined,
  ): RenderedContent {
    if (!this.templates.has(template.id)) {
      throw new ContentError('TEMPLATE_NOT_FOUND', `template "${template.id}" does not exist`);
    }
    const chain = [
      ...localeFallbacks(template.locale ?? preferredLocale, this.config.content.defaultLocale),
      DEFAULT_TEMPLATE_LOCALE,
    ];
    for (const locale of chain) {
      const localized = this.templates.find(template.id, locale);
      const part = localized?.parts[channel];
      if (!part) continue;
      const data = template.data ?? {};
      const fields: Record<string, string> = {};
      for (const [field, value] of Object.entries(part)) {
        fields[field] =
          typeof value === 'string' ? value : renderField(value, data, template.id, field);
      }
      const checked = checkRenderedContent(channel, toChannelFields(channel, fields, data));
      if (!checked.ok) {
        throw new ContentError(
          'RENDERED_CONTENT_INVALID',
          `template "${template.id}" (${locale}) renders ${channel} content that breaks the content rules: ${checked.problems.join('; ')}`,
        );
      }
      return { content: checked.content, locale };
    }
    throw new ContentError(
      'TEMPLATE_CHANNEL_MISSING',
      `template "${template.id}" has no ${channel} part in ${chain.join(', ')}`,
    );
  }
}

function renderField(
  render: CompiledText,
  data: Readonly<Record<string, unknown>>,
  templateId: string,
  field: string,
): string {
  try {
    return render(data);
  } catch (error) {
    throw new ContentError(
      'TEMPLATE_DATA_MISSING',
      `template "${templateId}" field ${field}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
    );
  }
}

/** WhatsApp template parts name an approved template; its variables come from the data. */
function toChannelFields(
  channel: Channel,
  fields: Readonly<Record<string, string>>,
  data: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> {
  if (channel === 'whatsapp' && typeof fields.templateName === 'string') {
    const variables = Object.fromEntries(
      Object.entries(data).map(([key, value]) => [
        key,
        typeof value === 'string' ? value : JSON.stringify(value),
      ]),
    );
    const template = {
      name: fields.templateName,
      language: fields.templateLanguage ?? '',
      variables,
    };
    return { template };
  }
  return fields;
}
