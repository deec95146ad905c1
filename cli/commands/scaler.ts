import { type Command } from 'commander';
import { addScalerFlags, runScaler, type ScalerFlags } from '../../scaler/run';
import { configOption } from '../project';

/** Adds `tideway scaler` (run it); `tideway pools` (./tasks.ts) shows what it decided. */
export function registerScalerCommands(program: Command): void {
  addScalerFlags(
    program
      .command('scaler')
      .description('run the scaler: backlog + cron forecast in, replicas out (process, kubernetes or dry-run actuator)'),
  ).action(async (f: ScalerFlags) => runScaler({ ...f, ...(configOption() ? { config: configOption() } : {}) }));
}
