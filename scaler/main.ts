import { Command } from 'commander';
import { addScalerFlags, runScaler, type ScalerFlags } from './run';

/** Entry of the scaler process: `node dist/scaler/main.js [flags]` (same flags as `tideway scaler`). */
const program = addScalerFlags(new Command().name('tideway-scaler').description('scale Tideway pools from backlog and cron forecasts'));
program.action(async (f: ScalerFlags) => runScaler(f));
program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
