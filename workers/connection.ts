import { NativeConnection } from '@temporalio/worker';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TemporalSecurity } from '../config/settings';
import { securityOptions } from '../temporal/connection';

/** Connects a worker to Temporal, retrying while the server starts or restarts. */
export async function connectWorker(address: string, timeoutMs = 60_000, security?: Partial<TemporalSecurity>): Promise<NativeConnection> {
  const deadline = Date.now() + timeoutMs;
  const extra = securityOptions(security);
  for (;;) {
    try {
      return await NativeConnection.connect({ address, ...extra });
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`worker could not reach Temporal at ${address}: ${String(err)}`);
      await sleep(500);
    }
  }
}
