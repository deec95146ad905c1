import { setTimeout as sleep } from 'node:timers/promises';
import { defineHandlers } from 'tideway';
import { catalog } from './catalog';

/** The one unit of work both task types run. */
async function work(input: { key: string; ms: number }): Promise<{ key: string }> {
  if (input.ms > 0) await sleep(input.ms);
  return { key: input.key };
}

export default defineHandlers(catalog, { 'flowbench.keyed': work, 'flowbench.tight': work, 'flowbench.plain': work });
