// `npm start`: `tideway dev` (Temporal dev server, control worker, scaler and pools, HTTP API) and
// the media app's own endpoint, in one terminal. Ctrl-C stops both.
//
// The same by hand, in two terminals:
//   npx tideway dev
//   npm run server            # jiti src/server.ts; MEDIA_APP_PORT (default 3000)
import { startMediaServer, startTidewayDev } from './stack.mjs';

const prefix = (tag) => (line) => process.stdout.write(`${tag} ${line}\n`);

let dev;
let server;
let stopping = false;

async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  process.stdout.write('\nstopping the media app and Tideway...\n');
  if (server) await server.stop(15_000);
  if (dev) await dev.stop(60_000);
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));
// Children run in their own process groups (so stopping them is orderly); never leave them behind.
process.on('exit', () => {
  server?.killGroup();
  dev?.killGroup();
});

try {
  dev = await startTidewayDev({ echo: prefix('[tideway]') });
  // The endpoint talks to the Temporal server `tideway dev` uses (started, or TEMPORAL_ADDRESS).
  server = await startMediaServer({
    env: { ...process.env, ...(dev.temporalAddress ? { TEMPORAL_ADDRESS: dev.temporalAddress } : {}) },
    echo: prefix('[media-app]'),
  });
} catch (err) {
  process.stderr.write(`${err.message}\n`);
  await stopAll(1);
}

for (const p of [dev, server]) {
  void p.exited.then((how) => {
    if (stopping) return;
    process.stderr.write(`${p.label} exited (${how}); stopping the rest\n`);
    void stopAll(1);
  });
}

process.stdout.write(`
Media app ready at ${server.url}
  curl -s ${server.url}/thumbnails -H 'content-type: application/json' -d '{"url":"https://images.example.com/cat.jpg","width":256}'
  curl -s ${server.url}/thumbnails/<taskId>
Tideway API at ${dev.apiUrl}; \`npx tideway schedules list\` shows the nightly cleanup.
Press Ctrl-C to stop.
`);
