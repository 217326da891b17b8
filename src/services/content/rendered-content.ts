import { contentSchema, type Channel } from '@omnigate/contracts';
import type { ChannelContent } from '@omnigate/channels';

/**
 * Template data comes from the producer and is substituted after the contract checked the
 * command, so what a template renders is checked here against the contract's rules for inline
 * content: lengths and shapes, links a push opens or loads https only (a rendered `{{trackingUrl}}`
 * could be `javascript:` or plain http), one-line fields without control characters (a CR/LF in an
 * email subject would be a header break).
 */

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
  // One problem per field, the contract's first.
  const problems = new Map<string, string>();
  const note = (field: string, problem: string) => {
    if (!problems.has(field)) problems.set(field, problem);
  };
  const parsed = contentSchema.safeParse({ [channel]: fields });
  for (const issue of parsed.error?.issues ?? []) {
    note(issue.path.slice(1).map(String).join('.') || channel, issue.message);
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
