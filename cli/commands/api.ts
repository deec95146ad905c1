import type { Command } from 'commander';
import { startApiServer } from '../../api/http/start';
import { cliProject } from '../project';

/** Adds `tideway api`: serve the project's HTTP API (the task verbs are in ./tasks.ts). */
export function registerApiCommands(program: Command): void {
  program
    .command('api')
    .description("serve the project's HTTP API (config `api`, or TIDEWAY_PORT, TIDEWAY_API_KEYS / TIDEWAY_API_KEYS_FILE)")
    .option('--dev', 'create and print a key for tenant "default" when none is configured')
    .action(async (o: { dev?: boolean }) => {
      const api = await startApiServer({ project: await cliProject(), dev: Boolean(o.dev) });
      const stop = () => void api.close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
