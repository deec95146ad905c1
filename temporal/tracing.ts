import { AsyncLocalStorage } from 'node:async_hooks';
import { ROOT_CONTEXT, context, propagation, trace, type Context, type ContextManager } from '@opentelemetry/api';
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';

/**
 * OpenTelemetry tracing of a task's path, submit → workflow → activity, with Temporal's own
 * interceptors (`@temporalio/interceptors-opentelemetry`): the client puts the submit's span into
 * the workflow's start headers, the control worker's workflow interceptors continue it and pass it
 * to the activity's headers, the pool's activity interceptor runs the handler inside that trace.
 * Spans leave each process over OTLP/HTTP (JSON). Off unless `TIDEWAY_OTLP_ENDPOINT` is set: then
 * no provider, no interceptor and no bundle with them is loaded (the SDK modules are imported only
 * by `installTracing`; this module itself needs only the small `@opentelemetry/api`).
 */

/** The workflow interceptor module the traced control bundle includes (workers/bundle-workflows.ts). */
export const WORKFLOW_TRACING_MODULE = require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

/** One process's tracing: its provider and the interceptors and sinks its clients and workers add. */
export interface Tracing {
  readonly endpoint: string;
  readonly serviceName: string;
  readonly provider: BasicTracerProvider;
  /** For `new Client({ interceptors: { workflow: ... } })`: the submit's span goes into the start headers. */
  clientInterceptors(): WorkflowClientInterceptor[];
  /** For a pool worker: the activity runs (and its handler with it) inside the trace from its headers. */
  activityInterceptor(): ActivityInterceptorsFactory;
  /** For the control worker: where workflow code (in its sandbox) hands its finished spans. */
  workflowSinks(): InjectedSinks<OpenTelemetrySinks>;
  /** Sends the spans still buffered (call before exit). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

let installed: Tracing | undefined;

/** The process's tracing, when `installTracing` turned it on. */
export function activeTracing(): Tracing | undefined {
  return installed;
}

/**
 * Turns tracing on for this process when `endpoint` is set (else does nothing and returns
 * undefined). Once per process: OpenTelemetry's provider, propagator and context manager are
 * global, so a second call returns the first's tracing whatever it asks for.
 */
export async function installTracing(
  endpoint: string | undefined,
  serviceName: string,
  opts: { exportDelayMs?: number } = {},
): Promise<Tracing | undefined> {
  if (installed || !endpoint) return installed;
  const [{ W3CTraceContextPropagator }, { OTLPTraceExporter }, { Resource }, sdk, interceptors] = await Promise.all([
    import('@opentelemetry/core'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-base'),
    import('@temporalio/interceptors-opentelemetry'),
  ]);
  if (installed) return installed; // another caller finished first while these loaded
  const resource = new Resource({ 'service.name': serviceName });
  const processor = new sdk.BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }), {
    // A trace should show up while the operator still looks at the task, not 5 s later.
    scheduledDelayMillis: opts.exportDelayMs ?? 1_000,
  });
  const provider = new sdk.BasicTracerProvider({ resource, spanProcessors: [processor] });
  // W3C trace context both ways: Temporal's headers carry it, and so do `ctx.tag.headers()`.
  provider.register({ contextManager: new AsyncLocalContextManager().enable(), propagator: new W3CTraceContextPropagator() });
  const tracing: Tracing = {
    endpoint,
    serviceName,
    provider,
    clientInterceptors: () => [new interceptors.OpenTelemetryWorkflowClientInterceptor()],
    activityInterceptor: () => (ctx) => ({
      inbound: new interceptors.OpenTelemetryActivityInboundInterceptor(ctx),
      outbound: new interceptors.OpenTelemetryActivityOutboundInterceptor(ctx),
    }),
    workflowSinks: () => ({ exporter: interceptors.makeWorkflowExporter(processor, resource) }),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
  installed = tracing;
  return tracing;
}

/** W3C `traceparent` (and `tracestate`) of the active span, or nothing when tracing is off or no span is active. */
export function traceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  // Without a registered propagator (tracing off) this is OpenTelemetry's no-op: no cost, no header.
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** The trace ID of the active span, if any (for logs and tests). */
export function activeTraceId(): string | undefined {
  const id = trace.getSpanContext(context.active())?.traceId;
  return id && !/^0+$/.test(id) ? id : undefined;
}

/**
 * OpenTelemetry's AsyncLocalStorage context manager, in a few lines (the
 * `@opentelemetry/context-async-hooks` package holds the same): the active span follows the
 * handler's awaits, so a downstream call made deep in a handler still carries the task's trace.
 */
class AsyncLocalContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const cb = thisArg === undefined ? fn : fn.bind(thisArg);
    return this.storage.run(ctx, cb as (...a: A) => ReturnType<F>, ...args);
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = <R>(f: () => R): R => this.with(ctx, f);
    const fn = target as unknown as (...a: unknown[]) => unknown;
    return function (this: unknown, ...a: unknown[]) {
      return run(() => fn.apply(this, a));
    } as unknown as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    return this;
  }
}
