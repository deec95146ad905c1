import type { Command } from 'commander';
import { formatAdmissionMode } from '../../config/admission';
import { codecKeysOf } from '../../config/encryption';
import type { Project } from '../../config/load';
import { printJson } from '../format';
import { cliProject } from '../project';

/** Shows a secret's shape, never its value. */
function mask(secret: string | undefined): string | undefined {
  if (secret === undefined) return undefined;
  return secret.startsWith('sha256:') ? 'sha256:…' : `…${secret.length} chars`;
}

/** The effective config, as every process of the project will see it, with secrets masked. */
export function effectiveConfig(p: Project): Record<string, unknown> {
  const s = p.settings;
  const keys = s.api.keys.map((k) => `${k.tenant}=${mask(k.key)}`);
  return {
    file: p.file,
    app: p.catalog.app ?? null,
    queues: { control: p.catalog.controlQueue, callbacks: p.catalog.callbackQueue, pools: p.catalog.pools.map((x) => x.taskQueue) },
    temporal: {
      address: s.temporalAddress ?? `embedded dev server on 127.0.0.1:${s.temporalPort} (no TEMPORAL_ADDRESS)`,
      namespace: s.namespace,
      tls: s.tls
        ? { clientCert: s.tlsCert ?? null, clientKey: s.tlsKey ?? null, ca: s.tlsCa ?? null, serverName: s.tlsServerName ?? null }
        : false,
      apiKey: mask(s.apiKey) ?? null,
    },
    api: {
      port: s.api.port,
      host: s.api.host,
      keys,
      keysFile: s.api.keysFile ?? null,
    },
    // Key IDs only; reading the keys file here also checks it.
    encryption:
      s.codec.keys.length > 0 || s.codec.keysFile
        ? { keyIds: codecKeysOf(s.codec).map((k) => k.id), keysFile: s.codec.keysFile ?? null, corsOrigins: s.codec.corsOrigins }
        : false,
    admission: formatAdmissionMode(s.admission),
    scaler: s.scaler.options ?? {},
    dataDir: s.dataDir,
    logLevel: s.logLevel,
    taskLogs: s.taskLogs,
    groups: p.catalog.groups.map((g) => ({
      group: g,
      types: [...p.catalog.byName.values()].filter((t) => t.group === g).map((t) => t.name),
      handlerModule: p.config.handlers?.[g] ? 'yes (loaded by its pools only)' : 'no (inline handlers)',
    })),
  };
}

/** `tideway config check`: load the project as every process would, and print what is in force. */
export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description("the project's config module (tideway.config.ts)");
  config
    .command('check')
    .description('load the config as every process would; print the effective settings (secrets masked) or name the bad field')
    .option('--handlers', "also import every group's handler module, as its pools would")
    .option('--json', 'machine-readable output')
    .action(async (o: { handlers?: boolean; json?: boolean }) => {
      const project = await cliProject();
      const out = effectiveConfig(project);
      if (o.handlers) {
        const results: Record<string, string> = {};
        let failed = false;
        for (const g of project.catalog.groups) {
          try {
            const n = (await project.handlersFor(g)).size;
            results[g] = `ok (${n} handler${n === 1 ? '' : 's'})`;
          } catch (err) {
            failed = true;
            results[g] = `FAILED: ${(err as Error).message}`;
          }
        }
        out.handlers = results;
        if (failed) process.exitCode = 1;
      }
      if (o.json) return printJson(out);
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n${process.exitCode ? '' : 'config ok\n'}`);
    });
}
