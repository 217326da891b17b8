import { contentSchema, type Channel } from '@omnigate/contracts';
import type { ChannelContent } from '@omnigate/channels';

/**
 * Template data comes from the producer and is substituted after the contract checked the
 * command, so what a template renders is checked here against the same rules as inline content,
 * and a little more: links a push opens or loads must be https (a rendered `{{trackingUrl}}` could
 * be `javascript:` or plain http), and one-line fields carry no control characters (a CR/LF in an
 * email subject would be a header break).
 */

// C0 controls, DEL and C1 controls.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

const ONE_LINE_FIELDS: Partial<Record<Channel, readonly string[]>> = {
  email: ['subject'],
  webpush: ['title'],
  mobilepush: ['title'],
};

const LINK_FIELDS: Partial<Record<Channel, readonly string[]>> = {
  webpush: ['url', 'icon'],
  mobilepush: ['imageUrl'],
};

export type RenderedContentCheck =
  | { readonly ok: true; readonly content: ChannelContent }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * The rendered fields as channel content, or every rule they break. Problems name the field and
 * the rule, never the value: it holds customer data.
 */
export function checkRenderedContent(
  channel: Channel,
  fields: Readonly<Record<string, unknown>>,
): RenderedContentCheck {
  // One problem per field, the contract's first: "must be an https:// URL" after "must be a URL"
  // would only repeat it.
  const problems = new Map<string, string>();
  const note = (field: string, problem: string) => {
    if (!problems.has(field)) problems.set(field, problem);
  };
  const parsed = contentSchema.safeParse({ [channel]: fields });
  for (const issue of parsed.error?.issues ?? []) {
    note(issue.path.slice(1).map(String).join('.') || channel, issue.message);
  }
  for (const field of ONE_LINE_FIELDS[channel] ?? []) {
    const value = fields[field];
    if (typeof value === 'string' && CONTROL_CHARACTER.test(value)) {
      note(field, 'must not contain control characters such as line breaks');
    }
  }
  for (const field of LINK_FIELDS[channel] ?? []) {
    const value = fields[field];
    if (
      typeof value === 'string' &&
      !(URL.canParse(value) && new URL(value).protocol === 'https:')
    ) {
      note(field, 'must be an https:// URL');
    }
  }
  const content = parsed.data?.[channel];
  if (problems.size > 0 || content === undefined) {
    return {
      ok: false,
      problems: [...problems].map(([field, problem]) => `${field}: ${problem}`),
    };
  }
  return { ok: true, content };
}
