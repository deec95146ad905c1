import { InvalidArgumentError, Option } from 'commander';
import { tenantSchema } from '../../config/envelope';

/** What the task verbs share: stdout lines, the --tenant option, and dropping options not given. */

export const say = (line: string) => process.stdout.write(`${line}\n`);

export function parseTenant(value: string): string {
  const r = tenantSchema.safeParse(value);
  if (!r.success) throw new InvalidArgumentError(r.error.issues.map((i) => i.message).join('; '));
  return r.data;
}

export const tenantOption = () =>
  new Option('--tenant <tenant>', 'tenant (direct mode only; over HTTP the API key decides)').argParser(parseTenant);

/** Keeps the filter fields that were given. */
export function given<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>;
}
