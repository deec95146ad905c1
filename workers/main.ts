import { loadProject } from '../config/load';
import { LANES, type Lane } from '../config/names';
import { runControl, runPool } from './run';

/**
 * Entry point of one worker process:
 *   node dist/workers/main.js control
 *   node dist/workers/main.js pool <group> <lane>
 * The project comes from TIDEWAY_CONFIG (the parent passes its config module's path), else
 * tideway.config.* in the working folder; Temporal's address, namespace and TLS from it or the
 * environment.
 */
async function main(): Promise<void> {
  const [role, group, laneArg] = process.argv.slice(2);
  if (!(role === 'control' || (role === 'pool' && group && laneArg && (LANES as readonly string[]).includes(laneArg)))) {
    throw new Error('usage: main.js control | main.js pool <group> <high|normal|low>');
  }
  const project = await loadProject();
  if (role === 'control') await runControl(project);
  else await runPool(project, group!, laneArg as Lane);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
