import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

export type TracesExporter = 'none' | 'otlp' | 'console';

export interface TracingConfig {
  /** OTEL_TRACES_EXPORTER; `none` (the default here) still propagates trace context. */
  readonly exporter: TracesExporter;
  readonly serviceName: string;
  readonly serviceVersion: string;
}

/** The W3C header a command carries in and a receipt carries out. */
export const TRACEPARENT = 'traceparent';

const TRACER_NAME = 'omnigate';

/**
 * Always installs async context and the W3C propagator, so a command's trace id follows its
 * dispatch into the logs and onto its receipts even with no exporter. With OTEL_TRACES_EXPORTER
 * set, spans are also recorded and exported; the exporter reads the standard OTEL_EXPORTER_OTLP_*
 * variables itself (endpoint, headers, timeout).
 */
export function setUpTracing(config: TracingConfig): { shutdown(): Promise<void> } {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (config.exporter === 'none') return { shutdown: () => Promise.resolve() };
  const exporter: SpanExporter =
    config.exporter === 'otlp' ? new OTLPTraceExporter() : new ConsoleSpanExporter();
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: config.serviceName,
      [ATTR_SERVICE_VERSION]: config.serviceVersion,
    }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  trace.setGlobalTracerProvider(provider);
  return { shutdown: () => provider.shutdown() };
}

function contextOf(traceparent: string | null | undefined): Context {
  return traceparent
    ? propagation.extract(ROOT_CONTEXT, { [TRACEPARENT]: traceparent })
    : ROOT_CONTEXT;
}

/**
 * Runs `work` in a span continuing the trace of `traceparent` (a command's header, or the one
 * stored with a message the scheduler resumes); a missing or malformed one starts a new trace.
 */
export async function inSpan<T>(
  name: string,
  traceparent: string | null | undefined,
  attributes: Attributes,
  work: () => Promise<T>,
  kind: SpanKind = SpanKind.CONSUMER,
): Promise<T> {
  return trace
    .getTracer(TRACER_NAME)
    .startActiveSpan(name, { kind, attributes }, contextOf(traceparent), async (span) => {
      try {
        return await work();
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    });
}

/** A child span of the current one, ended by the caller (for work split across callbacks). */
export function startChildSpan(name: string, attributes: Attributes): Span {
  return trace.getTracer(TRACER_NAME).startSpan(name, { kind: SpanKind.CLIENT, attributes });
}

/** The current trace context as a W3C traceparent, to store or to put on an outgoing record. */
export function activeTraceparent(): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier[TRACEPARENT] ?? null;
}

/** Trace and span id of the current context, for log lines; empty outside any trace. */
export function traceLogFields(): { traceId?: string; spanId?: string } {
  const span = trace.getSpanContext(context.active());
  if (!span || !trace.isSpanContextValid(span)) return {};
  return { traceId: span.traceId, spanId: span.spanId };
}
