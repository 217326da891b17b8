import { readFileSync } from 'node:fs';
import {
  KAFKA_SASL_MECHANISMS,
  type KafkaSaslOptions,
  type KafkaTlsOptions,
} from '@omnigate/kafka';
import { z } from 'zod';

const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined));

/** The Kafka TLS and SASL variables (KAFKA_TLS itself is a boolean of the main schema). */
export const kafkaSecurityEnvironmentShape = {
  KAFKA_TLS_CA_FILE: optionalText,
  KAFKA_TLS_CERT_FILE: optionalText,
  KAFKA_TLS_KEY_FILE: optionalText,
  KAFKA_SASL_MECHANISM: z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (!raw) return undefined;
      const mechanism = KAFKA_SASL_MECHANISMS.find((m) => m === raw.toLowerCase());
      if (mechanism === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `must be ${KAFKA_SASL_MECHANISMS.join(' or ')}, got "${raw}"`,
        });
        return z.NEVER;
      }
      return mechanism;
    }),
  KAFKA_SASL_USERNAME: optionalText,
  // Never echoed: problems name the variable, not its value.
  KAFKA_SASL_PASSWORD: z.string().optional(),
  KAFKA_SASL_PASSWORD_FILE: optionalText,
};

type KafkaSecurityEnvironment = z.output<z.ZodObject<typeof kafkaSecurityEnvironmentShape>> & {
  readonly KAFKA_TLS: boolean;
};

export interface KafkaSecurity {
  readonly tls: KafkaTlsOptions | undefined;
  readonly sasl: KafkaSaslOptions | undefined;
}

function readPem(
  variable: string,
  path: string | undefined,
  problems: string[],
): string | undefined {
  if (path === undefined) return undefined;
  try {
    const text = readFileSync(path, 'utf8');
    if (!text.includes('-----BEGIN ')) {
      problems.push(`${variable}: ${path} is not a PEM file`);
      return undefined;
    }
    return text;
  } catch (error) {
    problems.push(`${variable}: cannot read ${path} (${(error as Error).message})`);
    return undefined;
  }
}

/**
 * TLS and SASL for the brokers, all problems at once. SASL is refused without TLS: the password
 * would travel, and the session run, in clear text.
 */
export function loadKafkaSecurity(e: KafkaSecurityEnvironment, problems: string[]): KafkaSecurity {
  const tlsFiles = {
    KAFKA_TLS_CA_FILE: e.KAFKA_TLS_CA_FILE,
    KAFKA_TLS_CERT_FILE: e.KAFKA_TLS_CERT_FILE,
    KAFKA_TLS_KEY_FILE: e.KAFKA_TLS_KEY_FILE,
  };
  const given = Object.entries(tlsFiles).filter(([, path]) => path !== undefined);
  if (!e.KAFKA_TLS && given.length > 0) {
    problems.push(`${given.map(([name]) => name).join(', ')}: only used with KAFKA_TLS=true`);
  }
  if (Boolean(e.KAFKA_TLS_CERT_FILE) !== Boolean(e.KAFKA_TLS_KEY_FILE)) {
    problems.push('KAFKA_TLS_CERT_FILE, KAFKA_TLS_KEY_FILE: set both (mutual TLS) or neither');
  }
  const tls: KafkaTlsOptions | undefined = e.KAFKA_TLS
    ? {
        ca: readPem('KAFKA_TLS_CA_FILE', e.KAFKA_TLS_CA_FILE, problems),
        cert: readPem('KAFKA_TLS_CERT_FILE', e.KAFKA_TLS_CERT_FILE, problems),
        key: readPem('KAFKA_TLS_KEY_FILE', e.KAFKA_TLS_KEY_FILE, problems),
      }
    : undefined;
  return { tls, sasl: loadSasl(e, problems) };
}

function loadSasl(e: KafkaSecurityEnvironment, problems: string[]): KafkaSaslOptions | undefined {
  const mechanism = e.KAFKA_SASL_MECHANISM;
  const password = e.KAFKA_SASL_PASSWORD !== undefined && e.KAFKA_SASL_PASSWORD !== '';
  if (mechanism === undefined) {
    const stray = [
      e.KAFKA_SASL_USERNAME && 'KAFKA_SASL_USERNAME',
      password && 'KAFKA_SASL_PASSWORD',
      e.KAFKA_SASL_PASSWORD_FILE && 'KAFKA_SASL_PASSWORD_FILE',
    ].filter((name): name is string => typeof name === 'string');
    if (stray.length > 0) {
      problems.push(`${stray.join(', ')}: only used with KAFKA_SASL_MECHANISM`);
    }
    return undefined;
  }
  const before = problems.length;
  if (!e.KAFKA_TLS) {
    problems.push('KAFKA_SASL_MECHANISM: needs KAFKA_TLS=true (SASL is never sent in clear text)');
  }
  if (!e.KAFKA_SASL_USERNAME) {
    problems.push(`KAFKA_SASL_USERNAME: is required with KAFKA_SASL_MECHANISM=${mechanism}`);
  }
  if (password === Boolean(e.KAFKA_SASL_PASSWORD_FILE)) {
    problems.push(
      `KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE: exactly one is required with KAFKA_SASL_MECHANISM=${mechanism}`,
    );
  }
  const secret = password
    ? e.KAFKA_SASL_PASSWORD
    : readPasswordFile(e.KAFKA_SASL_PASSWORD_FILE, problems);
  if (problems.length > before || !e.KAFKA_SASL_USERNAME || secret === undefined) return undefined;
  return { mechanism, username: e.KAFKA_SASL_USERNAME, password: secret };
}

/** A mounted Secret file; one trailing newline (as `echo` and editors leave it) is not part of it. */
function readPasswordFile(path: string | undefined, problems: string[]): string | undefined {
  if (path === undefined) return undefined;
  try {
    const password = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    if (password === '') problems.push(`KAFKA_SASL_PASSWORD_FILE: ${path} is empty`);
    return password === '' ? undefined : password;
  } catch (error) {
    problems.push(`KAFKA_SASL_PASSWORD_FILE: cannot read ${path} (${(error as Error).message})`);
    return undefined;
  }
}

/**
 * The same variables read on their own, for tools that talk to the brokers without the rest of
 * the service's configuration (the dead-letter redrive). Problems name the variables.
 */
export function kafkaSecurityFromEnvironment(
  env: Readonly<Record<string, string | undefined>>,
):
  | { readonly ok: true; readonly security: KafkaSecurity }
  | { readonly ok: false; readonly problems: string[] } {
  const problems: string[] = [];
  const tlsText = (env.KAFKA_TLS ?? 'false').trim().toLowerCase();
  if (!['true', 'false', '1', '0', ''].includes(tlsText)) {
    problems.push('KAFKA_TLS: must be true or false');
  }
  const parsed = z.object(kafkaSecurityEnvironmentShape).safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${issue.path.map(String).join('.')}: ${issue.message}`);
    }
    return { ok: false, problems };
  }
  const security = loadKafkaSecurity(
    { ...parsed.data, KAFKA_TLS: tlsText === 'true' || tlsText === '1' },
    problems,
  );
  return problems.length > 0 ? { ok: false, problems } : { ok: true, security };
}
