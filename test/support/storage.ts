import { randomUUID } from 'node:crypto';
import { Client } from 'pg';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A schema name of its own per test file, so gateways of different tests never share rows. */
export function uniqueSchema(): string {
  return `t_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
}

/** The stored version of a profile, or null; read straight from PostgreSQL. */
export async function storedProfileVersion(
  schema: string,
  customerId: string,
): Promise<number | null> {
  const client = new Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const result = await client.query<{ version: string }>(
      `SELECT version FROM "${schema}".customer_profiles WHERE customer_id = $1 AND deleted_at IS NULL`,
      [customerId],
    );
    return result.rows[0] ? Number(result.rows[0].version) : null;
  } finally {
    await client.end();
  }
}

/** The stored profile document as PostgreSQL holds it (jsonb as text), or null. */
export async function storedProfileDocument(
  schema: string,
  customerId: string,
): Promise<string | null> {
  const client = new Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const result = await client.query<{ document: string }>(
      `SELECT document::text AS document FROM "${schema}".customer_profiles WHERE customer_id = $1`,
      [customerId],
    );
    return result.rows[0]?.document ?? null;
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
