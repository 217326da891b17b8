import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Channel } from '@omnigate/contracts';
import { cidrProblem, type SendRate } from '@omnigate/channels';

/**
 * Provider settings come from variables named after the provider id: PROVIDERS_SMS=twilio,backup
 * with PROVIDER_BACKUP_TYPE=twilio and PROVIDER_BACKUP_ACCOUNT_SID=… lets one channel fail over
 * between two accounts of one vendor. An id that is itself a type name needs no _TYPE variable.
 */
export const PROVIDER_TYPES = ['log', 'twilio', 'sendgrid', 'fcm', 'webpush'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

const CHANNELS_BY_TYPE: Readonly<Record<ProviderType, readonly Channel[]>> = {
  log: ['sms', 'email', 'whatsapp', 'webpush', 'mobilepush'],
  twilio: ['sms', 'whatsapp'],
  sendgrid: ['email'],
  fcm: ['mobilepush'],
  webpush: ['webpush'],
};

interface CommonSettings {
  readonly id: string;
  readonly channels: readonly Channel[];
  readonly timeoutMs: number;
  /** PROVIDER_<ID>_RATE_LIMIT: the most calls the provider takes per window; unset is unlimited. */
  readonly rateLimit?: SendRate;
  /**
   * PROVIDER_<ID>_MAX_IN_FLIGHT: the most calls of this provider waiting for an answer at once, in
   * this instance (its connection pool has as many sockets). More wait for a slot.
   */
  readonly maxInFlight: number;
}

export type ProviderSettings =
  | (CommonSettings & { readonly type: 'log' })
  | (CommonSettings & {
      readonly type: 'twilio';
      readonly accountSid: string;
      readonly authToken: string;
      readonly from?: string;
      readonly messagingServiceSid?: string;
      readonly whatsappFrom?: string;
      /** Approved WhatsApp templates: name → language → ContentSid. */
      readonly whatsappTemplates: Readonly<Record<string, Readonly<Record<string, string>>>>;
      readonly baseUrl?: string;
    })
  | (CommonSettings & {
      readonly type: 'sendgrid';
      readonly apiKey: string;
      readonly fromEmail: string;
      readonly fromName?: string;
      readonly baseUrl?: string;
      /**
       * The Event Webhook's verification key as SendGrid shows it (base64 DER, P-256); unset:
       * this provider's event webhook answers 404.
       */
      readonly webhookPublicKey?: string;
    })
  | (CommonSettings & {
      readonly type: 'fcm';
      readonly serviceAccount: { projectId: string; clientEmail: string; privateKey: string };
      /** Both Google hosts redirected together (the sandbox); unset in production. */
      readonly endpointOverride?: { fcm: string; oauth2: string };
      readonly caCertPem?: string;
    })
  | (CommonSettings & {
      readonly type: 'webpush';
      readonly vapidSubject: string;
      readonly vapidPublicKey: string;
      readonly vapidPrivateKey: string;
      readonly caCertPem?: string;
      /** Push service hosts the gateway may POST to; unset keeps the browsers' own services. */
      readonly allowedHosts?: readonly string[];
      /** Non-public addresses (CIDR) a push service may be at: the local sandbox; unset is none. */
      readonly allowedAddresses?: readonly string[];
    });

type Env = Readonly<Record<string, string | undefined>>;

const required = (message = 'is required') => z.string({ error: message }).trim().min(1, message);
const optional = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined));
const url = z.url({ error: 'must be a URL' }).optional();
const timeout = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    if (raw === undefined || raw === '') return 10000;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 100 || value > 120000) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a whole number of ms between 100 and 120000, got "${raw}"`,
      });
      return z.NEVER;
    }
    return value;
  });

/**
 * Enough for 5,000 calls/s at 50 ms each per instance; far more sockets than that to one host buys
 * little but memory and the provider's connection limits.
 */
export const DEFAULT_MAX_IN_FLIGHT = 256;
const MAX_IN_FLIGHT_CEILING = 4096;
const maxInFlight = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    if (raw === undefined || raw.trim() === '') return DEFAULT_MAX_IN_FLIGHT;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1 || value > MAX_IN_FLIGHT_CEILING) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a whole number between 1 and ${MAX_IN_FLIGHT_CEILING}, got "${raw}"`,
      });
      return z.NEVER;
    }
    return value;
  });

const SCHEMAS = {
  log: z.object({ TIMEOUT_MS: timeout, MAX_IN_FLIGHT: maxInFlight }),
  twilio: z.object({
    TIMEOUT_MS: timeout,
    MAX_IN_FLIGHT: maxInFlight,
    ACCOUNT_SID: required().regex(
      /^AC[0-9a-fA-F]{32}$/,
      'must be a Twilio account SID (AC + 32 hex)',
    ),
    AUTH_TOKEN: required(),
    FROM: optional,
    MESSAGING_SERVICE_SID: optional,
    WHATSAPP_FROM: optional,
    WHATSAPP_TEMPLATES: optional,
    BASE_URL: url,
  }),
  sendgrid: z.object({
    TIMEOUT_MS: timeout,
    MAX_IN_FLIGHT: maxInFlight,
    API_KEY: required(),
    FROM_EMAIL: z.email({ error: 'must be an email address' }),
    FROM_NAME: optional,
    BASE_URL: url,
    WEBHOOK_PUBLIC_KEY: optional.refine((key) => key === undefined || isP256PublicKey(key), {
      error:
        'must be the Event Webhook verification key SendGrid shows (base64 DER of a P-256 public key)',
    }),
  }),
  fcm: z.object({
    TIMEOUT_MS: timeout,
    MAX_IN_FLIGHT: maxInFlight,
    SERVICE_ACCOUNT_JSON: optional,
    SERVICE_ACCOUNT_FILE: optional,
    ENDPOINT_OVERRIDE: url,
    TOKEN_ENDPOINT_OVERRIDE: url,
    CA_FILE: optional,
  }),
  webpush: z.object({
    TIMEOUT_MS: timeout,
    MAX_IN_FLIGHT: maxInFlight,
    VAPID_SUBJECT: required().regex(/^(mailto:|https:)/, 'must start with mailto: or https:'),
    VAPID_PUBLIC_KEY: required(),
    VAPID_PRIVATE_KEY: required(),
    CA_FILE: optional,
    ALLOWED_HOSTS: optional,
    ALLOWED_ADDRESSES: optional,
  }),
} as const;

export type ProviderResult =
  | { readonly ok: true; readonly providers: readonly ProviderSettings[] }
  | { readonly ok: false; readonly problems: readonly string[] };

/** Reads and checks the settings of every provider a channel names; all problems at once. */
/** The `<FIELD>` of every `PROVIDER_<ID>_<FIELD>` variable some provider type reads. */
export const PROVIDER_VARIABLE_FIELDS: readonly string[] = [
  ...new Set([
    'TYPE',
    'RATE_LIMIT',
    ...Object.values(SCHEMAS).flatMap((s) => Object.keys(s.shape)),
  ]),
].sort();

export function loadProviderSettings(
  env: Env,
  providersByChannel: Readonly<Record<Channel, readonly string[]>>,
): ProviderResult {
  const problems: string[] = [];
  const channelsById = new Map<string, Channel[]>();
  for (const [channel, ids] of Object.entries(providersByChannel) as [
    Channel,
    readonly string[],
  ][]) {
    for (const id of ids) channelsById.set(id, [...(channelsById.get(id) ?? []), channel]);
  }
  const providers: ProviderSettings[] = [];
  for (const [id, channels] of channelsById) {
    const prefix = `PROVIDER_${id.toUpperCase()}_`;
    const typeName = env[`${prefix}TYPE`]?.trim() || id;
    if (!(PROVIDER_TYPES as readonly string[]).includes(typeName)) {
      problems.push(
        `${prefix}TYPE: provider "${id}" (${channels.join(', ')}) needs a type, one of ${PROVIDER_TYPES.join(', ')}; got "${typeName}"`,
      );
      continue;
    }
    const type = typeName as ProviderType;
    const unsupported = channels.filter((c) => !CHANNELS_BY_TYPE[type].includes(c));
    if (unsupported.length > 0) {
      problems.push(
        `PROVIDERS_${unsupported[0]!.toUpperCase()}: provider "${id}" is ${type}, which cannot send ${unsupported.join(', ')}`,
      );
      continue;
    }
    const scoped = Object.fromEntries(
      Object.entries(env)
        .filter(([name]) => name.startsWith(prefix))
        .map(([name, value]) => [name.slice(prefix.length), value]),
    );
    const rateLimit = parseRateLimit(scoped.RATE_LIMIT);
    if ('problem' in rateLimit) {
      problems.push(
        `${prefix}RATE_LIMIT: ${rateLimit.problem} (provider "${id}", ${type}, for ${channels.join(', ')})`,
      );
    }
    if (type === 'twilio' && scoped.STATUS_CALLBACK_URL !== undefined) {
      // Replaced by a callback URL per message; silently ignoring it would hide lost reports.
      problems.push(
        `${prefix}STATUS_CALLBACK_URL: no longer read; set WEBHOOK_PUBLIC_BASE_URL and each send gets its own status callback URL (provider "${id}")`,
      );
    }
    const parsed = SCHEMAS[type].safeParse(scoped);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        problems.push(
          `${prefix}${issue.path.map(String).join('.')}: ${issue.message} (provider "${id}", ${type}, for ${channels.join(', ')})`,
        );
      }
      continue;
    }
    const built = buildSettings(id, type, channels, parsed.data, prefix, problems);
    const rate = 'rate' in rateLimit ? rateLimit.rate : undefined;
    if (built) providers.push(rate ? { ...built, rateLimit: rate } : built);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, providers };
}

function buildSettings(
  id: string,
  type: ProviderType,
  channels: readonly Channel[],
  s: Record<string, string | number | undefined>,
  prefix: string,
  problems: string[],
): ProviderSettings | undefined {
  const str = (key: string): string | undefined =>
    typeof s[key] === 'string' ? s[key] : undefined;
  const common = {
    id,
    channels,
    timeoutMs: Number(s.TIMEOUT_MS),
    maxInFlight: Number(s.MAX_IN_FLIGHT),
  };
  const problemCount = problems.length;
  switch (type) {
    case 'log':
      return { ...common, type };
    case 'twilio': {
      if (channels.includes('sms') && !str('FROM') && !str('MESSAGING_SERVICE_SID')) {
        problems.push(
          `${prefix}FROM or ${prefix}MESSAGING_SERVICE_SID: one is required to send SMS (provider "${id}")`,
        );
      }
      if (channels.includes('whatsapp') && !str('WHATSAPP_FROM')) {
        problems.push(`${prefix}WHATSAPP_FROM: is required to send WhatsApp (provider "${id}")`);
      }
      const whatsappTemplates = parseJsonMap(
        str('WHATSAPP_TEMPLATES'),
        `${prefix}WHATSAPP_TEMPLATES`,
        problems,
      );
      if (problems.length > problemCount) return undefined;
      return {
        ...common,
        type,
        accountSid: str('ACCOUNT_SID')!,
        authToken: str('AUTH_TOKEN')!,
        from: str('FROM'),
        messagingServiceSid: str('MESSAGING_SERVICE_SID'),
        whatsappFrom: str('WHATSAPP_FROM'),
        whatsappTemplates,
        baseUrl: str('BASE_URL'),
      };
    }
    case 'sendgrid':
      return {
        ...common,
        type,
        apiKey: str('API_KEY')!,
        fromEmail: str('FROM_EMAIL')!,
        fromName: str('FROM_NAME'),
        baseUrl: str('BASE_URL'),
        webhookPublicKey: str('WEBHOOK_PUBLIC_KEY'),
      };
    case 'fcm': {
      const serviceAccount = readServiceAccount(
        str('SERVICE_ACCOUNT_JSON'),
        str('SERVICE_ACCOUNT_FILE'),
        prefix,
        problems,
      );
      const caCertPem = readOptionalFile(str('CA_FILE'), `${prefix}CA_FILE`, problems);
      const fcmUrl = str('ENDPOINT_OVERRIDE');
      const tokenUrl = str('TOKEN_ENDPOINT_OVERRIDE');
      if (Boolean(fcmUrl) !== Boolean(tokenUrl)) {
        problems.push(
          `${prefix}ENDPOINT_OVERRIDE and ${prefix}TOKEN_ENDPOINT_OVERRIDE: set both or neither`,
        );
      }
      if (!serviceAccount || problems.length > problemCount) return undefined;
      const endpointOverride = fcmUrl && tokenUrl ? { fcm: fcmUrl, oauth2: tokenUrl } : undefined;
      return { ...common, type, serviceAccount, endpointOverride, caCertPem };
    }
    case 'webpush': {
      const caCertPem = readOptionalFile(str('CA_FILE'), `${prefix}CA_FILE`, problems);
      const allowedAddresses = commaList(str('ALLOWED_ADDRESSES'));
      for (const problem of allowedAddresses?.map(cidrProblem).filter(Boolean) ?? []) {
        problems.push(
          `${prefix}ALLOWED_ADDRESSES: ${problem}; give CIDR ranges like 127.0.0.1/32 (provider "${id}")`,
        );
      }
      if (problems.length > problemCount) return undefined;
      return {
        ...common,
        type,
        vapidSubject: str('VAPID_SUBJECT')!,
        vapidPublicKey: str('VAPID_PUBLIC_KEY')!,
        vapidPrivateKey: str('VAPID_PRIVATE_KEY')!,
        caCertPem,
        allowedHosts: commaList(str('ALLOWED_HOSTS')),
        allowedAddresses,
      };
    }
  }
}

/** SendGrid's verification key: base64 of an SPKI (DER) P-256 public key. */
export function isP256PublicKey(base64Der: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64Der)) return false;
  try {
    const key = createPublicKey({
      key: Buffer.from(base64Der, 'base64'),
      format: 'der',
      type: 'spki',
    });
    return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  } catch {
    return false;
  }
}

function commaList(raw: string | undefined): string[] | undefined {
  return raw
    ?.split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
}

const RATE_WINDOWS_MS: Readonly<Record<string, number>> = { s: 1000, min: 60_000, h: 3_600_000 };
/**
 * The sliding window keeps one entry per call inside it (that is what makes it exact), so a huge
 * count per window costs memory in Redis; the same rate over a shorter window is stricter and
 * cheaper (600000/min → 10000/s).
 */
const MAX_CALLS_PER_WINDOW = 100_000;

/** "5/s", "80/s", "600/min" or "1000/h"; unset or empty is no limit. */
export function parseRateLimit(
  raw: string | undefined,
): { readonly rate: SendRate | undefined } | { readonly problem: string } {
  const text = raw?.trim() ?? '';
  if (text === '') return { rate: undefined };
  const match = /^(\d+)\s*\/\s*(s|min|h)$/.exec(text);
  const windowMs = match ? RATE_WINDOWS_MS[match[2]!] : undefined;
  const limit = match ? Number(match[1]) : 0;
  if (windowMs === undefined || limit < 1) {
    return {
      problem: `must be a number of calls per s, min or h, like 5/s, 80/s or 600/min; got "${text}"`,
    };
  }
  if (limit > MAX_CALLS_PER_WINDOW) {
    const perSecond = Math.floor((limit * 1000) / windowMs);
    return {
      problem: `at most ${MAX_CALLS_PER_WINDOW} calls per window; give about the same rate over a shorter one, e.g. ${perSecond}/s; got "${text}"`,
    };
  }
  return { rate: { limit, windowMs } };
}

function parseJsonMap(
  raw: string | undefined,
  variable: string,
  problems: string[],
): Record<string, Record<string, string>> {
  if (!raw) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    const result = z.record(z.string(), z.record(z.string(), z.string())).safeParse(parsed);
    if (result.success) return result.data;
  } catch {
    // reported below with the expected shape
  }
  problems.push(
    `${variable}: must be JSON like {"otp_code":{"en":"HX…"}} (template → language → ContentSid)`,
  );
  return {};
}

function readOptionalFile(
  path: string | undefined,
  variable: string,
  problems: string[],
): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    problems.push(
      `${variable}: cannot read ${path} (${error instanceof Error ? error.message : String(error)})`,
    );
    return undefined;
  }
}

const serviceAccountSchema = z.object({
  project_id: z.string().min(1),
  client_email: z.string().min(1),
  private_key: z.string().includes('PRIVATE KEY'),
});

function readServiceAccount(
  json: string | undefined,
  file: string | undefined,
  prefix: string,
  problems: string[],
): { projectId: string; clientEmail: string; privateKey: string } | undefined {
  const variable = json ? `${prefix}SERVICE_ACCOUNT_JSON` : `${prefix}SERVICE_ACCOUNT_FILE`;
  const text = json ?? readOptionalFile(file, variable, problems);
  if (!text) {
    if (!file)
      problems.push(
        `${prefix}SERVICE_ACCOUNT_JSON or ${prefix}SERVICE_ACCOUNT_FILE: one is required (a Firebase service account key)`,
      );
    return undefined;
  }
  try {
    const parsed = serviceAccountSchema.safeParse(JSON.parse(text));
    if (parsed.success) {
      return {
        projectId: parsed.data.project_id,
        clientEmail: parsed.data.client_email,
        privateKey: parsed.data.private_key,
      };
    }
  } catch {
    // reported below
  }
  problems.push(
    `${variable}: must be a service account key with project_id, client_email and private_key`,
  );
  return undefined;
}
