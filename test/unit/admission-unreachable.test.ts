import { createServer } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { ClusterShare } from '../../admission/cluster-share';
import { CONTROL_TASK_QUEUE, admissionRegistryId } from '../../config/names';

/**
 * The cluster-wide share when the admission registry cannot be reached at all (the server is down
 * when the process starts): a real client on an address nothing listens on. Admission stays open at
 * the whole budget, the outage is logged once, and close() does not hang on it.
 */
jest.setTimeout(60_000);

/** A local port that was free a moment ago and now has no listener. */
async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as { port: number };
  await new Promise<void>((res) => server.close(() => res()));
  return `127.0.0.1:${port}`;
}

test('an unreachable registry keeps the whole budget, logs the outage once, and closes promptly', async () => {
  const connection = Connection.lazy({ address: await deadAddress(), connectTimeout: 500 });
  const client = new Client({ connection, namespace: 'default' });
  // A real pino logger whose lines the test reads.
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const counts: number[] = [];
  const share = new ClusterShare(
    client,
    { workflowId: admissionRegistryId(), taskQueue: CONTROL_TASK_QUEUE, budget: 'low=4/s', ttlMs: 3_000, idleMs: 10_000 },
    (n) => counts.push(n),
    log,
  );
  const started = Date.now();
  await share.use(); // resolves although nobody answered
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(share.members).toBe(1);
  // The next beats (every ttl/3 = 1 s, each up to its 1 s deadline: about three in 6 s) fail too:
  // still one warning (a warning per beat fails this), still the whole budget.
  await new Promise((r) => setTimeout(r, 6_000));
  expect(share.members).toBe(1);
  expect(counts).toEqual([]);
  expect(lines.filter((l) => l.event === 'admission:registry-unreachable')).toHaveLength(1);
  const closing = Date.now();
  await share.close();
  expect(Date.now() - closing).toBeLessThan(3_000);
  await connection.close().catch(() => undefined);
});
