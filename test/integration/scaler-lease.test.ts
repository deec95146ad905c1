import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leaseStateQuery, scalerLeaseId } from '../../config/lease';
import { DEMO_CONFIG, testAddress, useStack, waitFor } from '../helpers/stack';

jest.setTimeout(180_000);

// The control worker runs the lease workflow; the scalers act on nothing (dry-run actuator).
const stack = useStack({ pools: [] });
const TTL_MS = 4_000;

interface ScalerProc {
  proc: ChildProcess;
  events: { event?: string; holder?: string; at: number }[];
  exited: Promise<void>;
}

function startScaler(dir: string, name: string): ScalerProc {
  const proc = spawn(
    process.execPath,
    [join(__dirname, '..', '..', 'dist', 'scaler', 'main.js'), '--lease', '--actuator', 'dry-run', '--interval', '1s'],
    {
      env: {
        ...process.env,
        TIDEWAY_CONFIG: DEMO_CONFIG,
        TEMPORAL_ADDRESS: testAddress(),
        TIDEWAY_DATA_DIR: join(dir, name),
        TIDEWAY_SCALER_LEASE_TTL: `${TTL_MS}ms`,
        TIDEWAY_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const events: ScalerProc['events'] = [];
  let buf = '';
  proc.stdout!.on('data', (b: Buffer) => {
    buf += b.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      try {
        events.push({ ...(JSON.parse(l) as { event?: string; holder?: string }), at: Date.now() });
      } catch {
        /* not a log line */
      }
    }
  });
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  return { proc, events, exited };
}

const has = (s: ScalerProc, event: string) => s.events.find((e) => e.event === event);

test('two scalers: one holds the lease, the other stands by and takes over within the lease time after a SIGKILL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideway-lease-'));
  const lease = stack.temporal.workflow.getHandle(scalerLeaseId());
  // A lease left by an earlier run on the same server would only delay the first acquisition.
  await lease.terminate('test starts fresh').catch(() => undefined);
  const a = startScaler(dir, 'a');
  const b = startScaler(dir, 'b');
  try {
    const [first, second] = await waitFor(
      () => (has(a, 'scaler:lease-acquired') ? [a, b] : has(b, 'scaler:lease-acquired') ? [b, a] : undefined),
      60_000,
    );
    await waitFor(() => has(second, 'scaler:standby'), 30_000);
    await waitFor(() => has(first, 'scaler:started'), 30_000);
    // Over several renewals (three lease times), the standby never acts.
    await new Promise((r) => setTimeout(r, 3 * TTL_MS));
    expect(has(second, 'scaler:lease-acquired')).toBeUndefined();
    expect(has(second, 'scaler:started')).toBeUndefined();
    expect(has(first, 'scaler:lease-lost')).toBeUndefined();
    const held = await lease.query(leaseStateQuery);
    expect(held.holder).toBe(has(first, 'scaler:lease-acquired')!.holder);

    const killedAt = Date.now();
    first.proc.kill('SIGKILL');
    await first.exited;
    const took = await waitFor(() => has(second, 'scaler:lease-acquired'), 60_000);
    const takeoverMs = took.at - killedAt;
    // At most one lease time after the last renewal, plus the standby's poll (a third of it), plus slack for a loaded machine.
    expect(takeoverMs).toBeLessThan(TTL_MS + TTL_MS / 3 + 10_000);
    await waitFor(() => has(second, 'scaler:started'), 30_000);
    const now = await lease.query(leaseStateQuery);
    expect(now.holder).toBe(took.holder);
    expect(now.handovers).toBe(2);
    process.stderr.write(`scaler lease takeover after SIGKILL: ${takeoverMs} ms (lease ${TTL_MS} ms)\n`);
  } finally {
    for (const s of [a, b]) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGTERM');
    await Promise.all([a.exited, b.exited]);
    await lease.terminate('test done').catch(() => undefined);
  }
});
