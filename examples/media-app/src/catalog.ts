import { defineCatalog, defineTask } from 'tideway';
import { z } from 'zod';

/**
 * The media app's task catalog: declarations only. Every process of the project loads it (the HTTP
 * endpoint, the Tideway API, the control worker, the scaler, every pool), so it holds no handler
 * code and no heavy imports. The handlers live in src/handlers/media.ts, which only the `media`
 * group's pools load (see tideway.config.ts).
 */

/** Widths a thumbnail may have. */
export const MIN_WIDTH = 16;
export const MAX_WIDTH = 1024;

/** What `media.thumbnail` takes, and what `POST /thumbnails` accepts: one schema for both. */
export const thumbnailInput = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'url must be an absolute http(s) URL' }),
    width: z
      .number({ error: 'width must be a number' })
      .int('width must be a whole number of pixels')
      .min(MIN_WIDTH, `width must be at least ${MIN_WIDTH}`)
      .max(MAX_WIDTH, `width must be at most ${MAX_WIDTH}`),
  })
  .strict();
export type ThumbnailInput = z.infer<typeof thumbnailInput>;

/** What `media.thumbnail` returns; checked when the handler returns, and it types the client's result. */
export const thumbnailOutput = z.object({
  /** The source image the thumbnail was made for. */
  source: z.string(),
  /** Where the thumbnail is served from. */
  url: z.string(),
  /** Content key: the same (url, width) always gives the same key and the same bytes. */
  key: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  format: z.literal('png'),
  /** Size of the PNG file. */
  bytes: z.number().int().positive(),
  /** SHA-256 of the PNG file (hex). */
  sha256: z.string(),
});
export type ThumbnailOutput = z.infer<typeof thumbnailOutput>;

export const cleanupInput = z.object({ olderThanDays: z.number().int().min(0).max(365) }).strict();
export const cleanupOutput = z.object({ olderThanDays: z.number(), scanned: z.number().int(), deleted: z.number().int() });

export const tasks = [
  defineTask({
    name: 'media.thumbnail',
    group: 'media',
    description: 'Renders a {width}px PNG thumbnail for {url} (deterministic; no network).',
    input: thumbnailInput,
    output: thumbnailOutput,
    // A lost pool process is noticed after 10s without a heartbeat, and the attempt retried.
    timeouts: { startToClose: '1m', heartbeat: '10s' },
    retry: { maxAttempts: 5, retryable: { initial: '1s', backoff: 2, max: '30s' } },
    // A thumbnail nobody picked up within an hour is no longer wanted.
    ttl: '1h',
  }),
  defineTask({
    name: 'media.cleanup',
    group: 'media',
    lane: 'low',
    description: 'Deletes stored thumbnails older than {olderThanDays} days.',
    input: cleanupInput,
    output: cleanupOutput,
    timeouts: { startToClose: '30m', heartbeat: '30s' },
    // Every night at 03:00 UTC, on the low lane. A Temporal Schedule underneath
    // (`tideway.media-app.nightly-cleanup`), created by the control worker when it starts; the scaler
    // reads `expectedTasks` to start the low-lane pool just before the fire.
    schedules: [{ id: 'nightly-cleanup', cron: '0 3 * * *', timezone: 'UTC', input: { olderThanDays: 30 }, lane: 'low', expectedTasks: 1 }],
  }),
] as const;

export const catalog = defineCatalog({
  tasks,
  pools: {
    // The normal lane keeps one warm process; high and low start on demand (or before a cron fire)
    // and scale back to zero when idle.
    media: {
      all: { concurrency: 8, minReplicas: 0, maxReplicas: 3, startupSeconds: 3 },
      normal: { minReplicas: 1 },
    },
  },
});

// Registers the catalog with Tideway's types: `loadProject()`, `TaskClient` and `HttpTaskClient`
// are typed by it (task names, inputs, results) without a generic at every call.
declare module 'tideway' {
  interface Register {
    catalog: typeof catalog;
  }
}
