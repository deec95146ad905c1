import { loadProject } from '../../config/load';
import { startApiServer } from './start';

/** `node dist/api/http/main.js`: serve the HTTP API of the project (TIDEWAY_CONFIG) until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const project = await loadProject();
  const api = await startApiServer({ project, dev: project.settings.api.dev });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal}: stopping the HTTP API\n`);
    void api.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`tideway api: ${(err as Error).message ?? String(err)}\n`);
  process.exit(1);
});
