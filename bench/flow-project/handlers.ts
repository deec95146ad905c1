import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineHandlers } from 'tideway';
import { catalog } from './catalog';

/** Records each dispatch (tenant, time) in TIDEWAY_DEMO_LEDGER, then works `ms`. */
export default defineHandlers(catalog, {
  'fbench.weighted': async (input, ctx) => {
    const file = process.env.TIDEWAY_DEMO_LEDGER;
    if (file) appendFileSync(file, `${JSON.stringify({ taskId: ctx.taskId, tenant: ctx.tenant, at: Date.now() })}\n`);
    await sleep(input.ms);
    return null;
  },
});
