import type { Client } from '@temporalio/client';
import type { Catalog } from '../../config/catalog-schema';
import type { CompiledScalerOptions } from '../options';
import { backlogSignal } from './backlog';
import { forecastSignal } from './forecast';
import { inFlightSignal } from './in-flight';
import type { Signal } from './signal';

export type { Signal, SignalReading } from './signal';

/** The one place signals are registered: backlog, in-flight and (unless disabled) the cron forecast. */
export function defaultSignals(client: Client, catalog: Catalog, opts: CompiledScalerOptions): Signal[] {
  const signals = [backlogSignal(client), inFlightSignal(client, catalog.controlQueue)];
  if (opts.forecast) signals.push(forecastSignal({ catalog, client, horizonMs: opts.forecastHorizonMs }));
  return signals;
}
