import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { z } from 'zod';
import { CHANNELS, type Channel } from '@omnigate/contracts';

/** A compiled text: renders data into a string, or throws when the data lacks a variable. */
export type CompiledText = (data: Readonly<Record<string, unknown>>) => string;

/** One template in one locale: compiled parts per channel, mirroring inline content. */
export interface LocalizedTemplate {
  readonly id: string;
  readonly locale: string;
  readonly file: string;
  readonly parts: Partial<Record<Channel, Readonly<Record<string, CompiledText | string>>>>;
}

const text = z.string().min(1);
// Template files mirror the inline content of a command; every string is a Handlebars template.
const templateFileSchema = z.strictObject({
  sms: z.strictObject({ text }).optional(),
  whatsapp: z
    .union([
      z.strictObject({ text }),
      z.strictObject({ templateName: text, templateLanguage: text }),
    ])
    .optional(),
  email: z.strictObject({ subject: text, html: text.optional(), text: text.optional() }).optional(),
  webpush: z
    .strictObject({ title: text, body: text, url: text.optional(), icon: text.optional() })
    .optional(),
  mobilepush: z.strictObject({ title: text, body: text, imageUrl: text.optional() }).optional(),
});

const FILE_NAME = /^([a-z0-9][a-z0-9_-]*)(?:\.([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*))?\.json$/;

/** The locale under which a file without a locale in its name is filed. */
export const DEFAULT_TEMPLATE_LOCALE = 'default';

/**
 * Templates from a directory (a Kubernetes ConfigMap mounts as one flat directory):
 * `<id>.<locale>.json` per locale and `<id>.json` as the last resort. Every file is parsed and
 * compiled at start-up, so a broken template stops the service instead of failing messages later.
 * Only `html` parts are HTML-escaped; SMS, push and plain-text parts must not be.
 */
export class TemplateRepository {
  private readonly templates = new Map<string, Map<string, LocalizedTemplate>>();

  constructor(readonly directory: string | undefined) {
    if (directory) this.load(directory);
  }

  get size(): number {
    return this.templates.size;
  }

  find(id: string, locale: string): LocalizedTemplate | undefined {
    return this.templates.get(id)?.get(locale);
  }

  has(id: string): boolean {
    return this.templates.has(id);
  }

  private load(directory: string): void {
    const problems: string[] = [];
    const escaping = Handlebars.create();
    let files: string[];
    try {
      files = readdirSync(directory).filter((f) => f.endsWith('.json'));
    } catch (error) {
      throw new Error(`TEMPLATES_DIR: cannot read ${directory}: ${String(error)}`, {
        cause: error,
      });
    }
    for (const file of files.sort()) {
      const match = FILE_NAME.exec(file);
      if (!match) {
        problems.push(`${file}: name must be <id>.json or <id>.<locale>.json`);
        continue;
      }
      const id = match[1]!;
      const locale = match[2]?.replace(/_/g, '-') ?? DEFAULT_TEMPLATE_LOCALE;
      try {
        const parsed = templateFileSchema.safeParse(
          JSON.parse(readFileSync(join(directory, file), 'utf8')),
        );
        if (!parsed.success) {
          problems.push(`${file}: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`);
          continue;
        }
        const parts: LocalizedTemplate['parts'] = {};
        for (const channel of CHANNELS) {
          const part = parsed.data[channel] as Record<string, string> | undefined;
          if (!part) continue;
          parts[channel] = Object.fromEntries(
            Object.entries(part).map(([field, source]) => [
              field,
              field === 'templateName' || field === 'templateLanguage'
                ? source
                : compile(escaping, source, field === 'html'),
            ]),
          );
        }
        const byLocale = this.templates.get(id) ?? new Map<string, LocalizedTemplate>();
        byLocale.set(locale, { id, locale, file, parts });
        this.templates.set(id, byLocale);
      } catch (error) {
        problems.push(`${file}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (problems.length > 0) {
      throw new Error(`TEMPLATES_DIR: invalid templates in ${directory}: ${problems.join('; ')}`);
    }
  }
}

function compile(handlebars: typeof Handlebars, source: string, escapeHtml: boolean): CompiledText {
  // Compile eagerly so syntax errors surface at start-up, not on the first message.
  handlebars.precompile(source, { noEscape: !escapeHtml, strict: true });
  const render = handlebars.compile(source, { noEscape: !escapeHtml, strict: true });
  return (data) => render(data);
}
