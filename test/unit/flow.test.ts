import { z } from 'zod';
import { defineCatalog } from '../../config/catalog-schema';
import { defineTask } from '../../config/task';
import { resolveEnvelope } from '../../config/envelope';
import { flowLimiterId, waitReason } from '../../config/flow';

const input = z.object({ account: z.string() });

function catalogWith(extra: Record<string, unknown>) {
  return defineCatalog({ tasks: [{ name: 'crm.sync', group: 'crm', input, ...extra }] as never });
}

describe('flow control in the catalog', () => {
  it('compiles concurrency and rateLimit, and resolves the keys from the input at submit', () => {
    const cat = defineCatalog({
      tasks: [
        defineTask({
          name: 'crm.sync',
          group: 'crm',
          input,
          concurrency: { key: (i, ctx) => `${ctx.tenant}-${i.account}`, limit: 2 },
          rateLimit: { key: (_i, ctx) => ctx.tenant, limit: 60, per: '1m', mode: 'drop' },
        }),
      ] as const,
    });
    const r = resolveEnvelope(cat, { type: 'crm.sync', input: { account: 'a1' }, tenant: 'acme' });
    expect(r.flow).toEqual({
      concurrency: { key: 'acme-a1', limit: 2 },
      rate: { key: 'acme', limit: 60, perMs: 60_000, mode: 'drop' },
    });
    // A type without flow control resolves without it (its tasks schedule exactly what they did).
    const plain = defineCatalog({ tasks: [defineTask({ name: 'crm.plain', group: 'crm', input })] as const });
    expect(resolveEnvelope(plain, { type: 'crm.plain', input: { account: 'a1' } }).flow).toBeUndefined();
  });

  it.each([
    [{ concurrency: { key: (): string => 'k', limit: 0 } }, 'concurrency.limit'],
    [{ concurrency: { key: 'tenant', limit: 1 } }, 'concurrency.key'],
    [{ rateLimit: { key: (): string => 'k', limit: 5, per: '500ms' } }, 'rateLimit.per'],
    [{ rateLimit: { key: (): string => 'k', limit: 5, per: '1m', mode: 'spill' } }, 'rateLimit.mode'],
    [{ concurrency: { key: (): string => 'k', limit: 1, extra: true } }, 'concurrency'],
  ])('rejects a bad declaration %#, naming the field', (extra, path) => {
    expect(() => catalogWith(extra)).toThrow(path);
  });

  it('defaults rateLimit.mode to queue', () => {
    const cat = catalogWith({ rateLimit: { key: () => 'k', limit: 5, per: '1m' } });
    expect(cat.get('crm.sync')?.flow?.rate?.mode).toBe('queue');
  });

  it.each([
    [(): string => '', 'must return 1-64 characters'],
    [(): string => 'has space', 'must return 1-64 characters'],
    [(): string => 'x'.repeat(65), 'must return 1-64 characters'],
    [
      (): string => {
        throw new Error('no account');
      },
      'the key function threw: no account',
    ],
  ])('fails the submit when the key function gives no usable key %#', (key, message) => {
    const cat = catalogWith({ concurrency: { key, limit: 1 } });
    expect(() => resolveEnvelope(cat, { type: 'crm.sync', input: { account: 'a' } })).toThrow(message);
  });

  it('names limiters per kind, type, key and app, and says why a task waits', () => {
    expect(flowLimiterId('concurrency', 'crm.sync', 'acme')).toBe('tideway.flow.concurrency.crm.sync.acme');
    expect(flowLimiterId('rate', 'crm.sync', 'acme', 'shop')).toBe('tideway.shop.flow.rate.crm.sync.acme');
    expect(waitReason('concurrency', 'acme', 2, 2)).toBe('waiting for a concurrency permit: key acme, 2/2 running');
    expect(waitReason('rate', 'acme', 60, 60, 60_000)).toBe('waiting for a rate permit: key acme, 60/60 per 1m used');
  });
});
