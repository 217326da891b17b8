import { z } from 'zod';
import { cancelBodySchema } from './cancel.controller';
import { auditQuerySchema, listMessagesQuerySchema, resendBodySchema } from './schemas';

/*
 * The admin API's OpenAPI 3.1 document. Bodies and queries come from the same zod schemas that
 * validate the requests (z.toJSONSchema emits draft 2020-12, which OpenAPI 3.1 uses), so the
 * document cannot drift from what is enforced; responses are described by hand.
 */

type JsonObject = Record<string, unknown>;

const jsonSchema = (schema: z.ZodType): JsonObject => {
  const document = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonObject;
  // The dialect is the document's (OpenAPI 3.1 is draft 2020-12), not repeated per schema.
  delete document.$schema;
  return document;
};

function queryParameters(schema: z.ZodObject): JsonObject[] {
  const object = jsonSchema(schema) as { properties?: Record<string, JsonObject> };
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: 'query',
    required: false,
    schema: property,
  }));
}

const problemResponses = (codes: readonly number[]): JsonObject =>
  Object.fromEntries(
    codes.map((code) => [
      String(code),
      {
        description: PROBLEM_WORDS[code] ?? 'Problem',
        content: {
          'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
        },
      },
    ]),
  );

const PROBLEM_WORDS: Record<number, string> = {
  400: 'Invalid request (the detail names each bad field)',
  401: 'No valid credential (missing, unknown, expired, too old or for another audience)',
  403: 'The caller role is below the route minimum',
  404: 'Not found',
  409: 'Refused: the customer opted out of the channel (an admin may override, audited)',
  413: 'Body too large',
  422: 'The message cannot be resent as asked',
  429: 'Rate limited (requests, resends, dry runs, or failed sign-ins from the address); see Retry-After',
};

const json = (schema: JsonObject, description: string): JsonObject => ({
  description,
  content: { 'application/json': { schema } },
});

const pathId = (name: string): JsonObject => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string', maxLength: 128 },
});

const CANCEL_RESULT: JsonObject = {
  type: 'object',
  required: [
    'cancelId',
    'outcome',
    'withdrawn',
    'tooLate',
    'alreadyCancelled',
    'repeated',
    'dryRun',
  ],
  properties: {
    cancelId: { type: 'string' },
    outcome: { enum: ['cancelled', 'too_late', 'remembered', 'unknown'] },
    withdrawn: { type: 'array', items: { type: 'string' } },
    tooLate: { type: 'array', items: { type: 'string' } },
    alreadyCancelled: { type: 'array', items: { type: 'string' } },
    repeated: { type: 'boolean' },
    dryRun: { type: 'boolean' },
  },
};

const roleNote = (role: string): string => `Needs the ${role} role or above.`;

export function adminOpenApiDocument(): JsonObject {
  const common = [400, 401, 403, 429];
  return {
    openapi: '3.1.0',
    info: {
      title: 'Omnigate admin API',
      version: '1.0.0',
      description:
        'Support tools: find messages, read a timeline, look up a customer, resend. Roles: viewer < agent < admin. Contacts are masked below admin.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths: {
      '/admin/v1/messages': {
        get: {
          summary: 'List messages, newest first, cursor-paged',
          description: roleNote('viewer'),
          parameters: queryParameters(listMessagesQuerySchema),
          responses: {
            '200': json({ $ref: '#/components/schemas/MessagePage' }, 'A page of messages'),
            ...problemResponses(common),
          },
        },
      },
      '/admin/v1/messages/{id}': {
        get: {
          summary:
            'A message timeline: state and delivery status, command summary, attempts, receipts, provider events, trace, resends',
          description: roleNote('viewer'),
          parameters: [pathId('id')],
          responses: {
            '200': json({ type: 'object' }, 'The timeline'),
            ...problemResponses([...common, 404]),
          },
        },
      },
      '/admin/v1/messages/{id}/resend': {
        post: {
          summary: 'Resend a message as a new one linked by resendOf (or dry-run the decision)',
          description: `${roleNote('agent')} The contact is chosen by contactIndex among the profile's contacts for the channel; a typed contact, overrideCaps and overrideOptOut need admin. Resends and dry runs are audited and limited per customer per hour, each with its own limit.`,
          parameters: [pathId('id')],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: jsonSchema(resendBodySchema) } },
          },
          responses: {
            '202': json(
              {
                type: 'object',
                required: ['messageId', 'resendOf', 'auditId'],
                properties: {
                  messageId: { type: 'string' },
                  resendOf: { type: 'string' },
                  auditId: { type: 'string' },
                },
              },
              'Accepted: the resend runs in the background',
            ),
            '200': json(
              { $ref: '#/components/schemas/DryRunDecision' },
              'Dry run: what a resend would do now; nothing sent or counted against a cap; audited',
            ),
            ...problemResponses([...common, 404, 409, 413, 422]),
          },
        },
      },
      '/admin/v1/messages/{id}/cancel': {
        post: {
          summary: 'Cancel a pending message (or dry-run the cancel)',
          description: `${roleNote('agent')} Withdraws the message if it has not been handed to a provider yet (CANCELLED receipt with the reason); a sent one is reported too late and left unchanged. Audited, dry runs too.`,
          parameters: [pathId('id')],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: jsonSchema(cancelBodySchema) } },
          },
          responses: {
            '200': json(CANCEL_RESULT, 'What the cancel withdrew, or with dryRun would withdraw'),
            ...problemResponses([...common, 404, 413]),
          },
        },
      },
      '/admin/v1/customers/{customerId}/groups/{groupKey}/cancel': {
        post: {
          summary: "Cancel every pending message of a customer's group key (or dry-run it)",
          description: `${roleNote('agent')} Like the message cancel, for every message of the customer sent with this groupKey; remembered for CANCEL_REMEMBER_SECONDS for commands still to come. Audited, dry runs too.`,
          parameters: [pathId('customerId'), pathId('groupKey')],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: jsonSchema(cancelBodySchema) } },
          },
          responses: {
            '200': json(CANCEL_RESULT, 'What the cancel withdrew, or with dryRun would withdraw'),
            ...problemResponses([...common, 413]),
          },
        },
      },
      '/admin/v1/customers/{customerId}': {
        get: {
          summary: 'A customer profile and preferences',
          description: roleNote('viewer'),
          parameters: [pathId('customerId')],
          responses: {
            '200': json(
              { type: 'object' },
              'The profile, masked below admin; an admin reading it unmasked is audited',
            ),
            ...problemResponses([...common, 404]),
          },
        },
      },
      '/admin/v1/audit': {
        get: {
          summary: 'The audit log of resends, dry runs, overrides and unmasked reads, newest first',
          description: roleNote('admin'),
          parameters: queryParameters(auditQuerySchema),
          responses: {
            '200': json({ type: 'object' }, 'A page of audit records'),
            ...problemResponses(common),
          },
        },
      },
      '/admin/v1/me': {
        get: {
          summary: 'The caller: credential id, role and how it signed in',
          description: roleNote('viewer'),
          responses: {
            '200': json(
              {
                type: 'object',
                required: ['id', 'role', 'via'],
                properties: {
                  id: { type: 'string' },
                  role: { enum: ['viewer', 'agent', 'admin'] },
                  via: { enum: ['api-key', 'oidc'] },
                },
              },
              'The caller',
            ),
            ...problemResponses(common),
          },
        },
      },
      '/admin/v1/openapi.json': {
        get: {
          summary: 'This document',
          description: roleNote('viewer'),
          responses: {
            '200': json({ type: 'object' }, 'OpenAPI 3.1'),
            ...problemResponses(common),
          },
        },
      },
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'An admin API key, or an OIDC access token (JWT) from the configured issuer',
        },
      },
      schemas: {
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'detail'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
          },
        },
        DryRunDecision: {
          type: 'object',
          required: ['dryRun', 'resendOf', 'decision', 'channel', 'provider', 'channels', 'steps'],
          properties: {
            dryRun: { const: true },
            resendOf: { type: 'string' },
            decision: {
              enum: ['send', 'defer', 'capped', 'suppress', 'expired', 'undeliverable', 'failed'],
            },
            channel: { type: ['string', 'null'] },
            provider: { type: ['string', 'null'] },
            until: { type: ['string', 'null'], format: 'date-time' },
            channels: { type: 'array', items: { type: 'string' } },
            steps: {
              type: 'array',
              items: {
                type: 'object',
                required: ['channel', 'step'],
                properties: {
                  channel: { type: 'string' },
                  step: { enum: ['send', 'capped', 'breakers_open', 'spend_refused'] },
                  provider: { type: 'string' },
                  reasonCode: { type: 'string' },
                  detail: { type: 'string' },
                },
              },
            },
            skipped: { type: 'array', items: { type: 'object' } },
            trace: { type: 'array', items: { type: 'object' } },
            capsChecked: { const: true },
          },
        },
        MessagePage: {
          type: 'object',
          required: ['items', 'nextCursor'],
          properties: {
            items: { type: 'array', items: { type: 'object' } },
            nextCursor: { type: ['string', 'null'] },
          },
        },
      },
    },
  };
}
