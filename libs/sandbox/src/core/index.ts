/**
 * Shared pieces for provider fakes. A fake extends FakeProviderServer and supplies three methods:
 * `parse` (what to record), `respond` (the vendor's answer, including recipientErrors) and
 * `failureResponse` (the vendor's shape for plan-chosen 5xx / 429 / failNext answers). Then
 * `await new MyFake(options).listen()` serves it on 127.0.0.1 with a free port.
 */
export type { FailurePlan, LatencyRange, ProviderFake, RecordedRequest } from './types';
export {
  assertValidFailurePlan,
  DROP_CONNECTION,
  FakeProviderServer,
  retryAfterHeaders,
  type FakeRequest,
  type FakeResponse,
  type FakeServerOptions,
  type ParsedRequest,
  type PlannedFailure,
} from './fake-provider-server';
export {
  WebhookSender,
  webhookIngress,
  type WebhookAttempt,
  type WebhookDeliveryOptions,
  type WebhookKind,
  type WebhookPost,
  type WebhookRoute,
} from './webhook-sender';
