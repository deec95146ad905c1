import { mkdir, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defineHandlers, NonRetryableError } from 'tideway';
import { catalog } from '../catalog';
import { renderThumbnail, sourceFormat, SUPPORTED_EXTENSIONS } from '../thumbnail';

/**
 * Handlers of the `media` group. Only the media pools import this module (tideway.config.ts names it
 * under `handlers.media`), so its dependencies — an image library, in a real app — never load in the
 * HTTP endpoint, the Tideway API or the control worker, and a crash here cannot take them down.
 *
 * `defineHandlers(catalog, ...)` checks at compile time that every name is a task type of the
 * catalog, that each handler takes that type's input and returns its declared output.
 *
 * When MEDIA_STORE_DIR is set, thumbnails are written there as `<key>.png` and `media.cleanup`
 * deletes the old ones; otherwise the result only describes the thumbnail.
 */

function storeDir(): string | undefined {
  return process.env.MEDIA_STORE_DIR || undefined;
}

export default defineHandlers(catalog, {
  'media.thumbnail': async (input, ctx) => {
    // A format we cannot read will not become readable on a retry: fail for good (the task is
    // dead-lettered after this one attempt, with this message as its last error).
    if (!sourceFormat(input.url)) {
      throw new NonRetryableError(`unsupported source format: ${input.url} (supported: ${SUPPORTED_EXTENSIONS.join(', ')})`);
    }
    // Progress as heartbeat details: keeps the attempt alive, shows in the Web UI, and a retried
    // attempt could read it back from ctx.lastHeartbeat.
    ctx.heartbeat({ stage: 'render', rows: 0 });
    const { thumbnail, png } = await renderThumbnail(input.url, input.width, {
      signal: ctx.signal,
      onProgress: (rows, total) => ctx.heartbeat({ stage: 'render', rows, total }),
    });
    const dir = storeDir();
    if (dir) {
      ctx.heartbeat({ stage: 'store' });
      await mkdir(dir, { recursive: true });
      // Same key, same bytes: a second attempt overwrites the file with identical content.
      await writeFile(join(dir, `${thumbnail.key}.png`), png);
    }
    return thumbnail;
  },

  'media.cleanup': async (input, ctx) => {
    const dir = storeDir();
    if (!dir) return { olderThanDays: input.olderThanDays, scanned: 0, deleted: 0 };
    const cutoff = Date.now() - input.olderThanDays * 86_400_000;
    const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.png'));
    let deleted = 0;
    for (const [i, f] of files.entries()) {
      ctx.signal.throwIfAborted();
      const file = join(dir, f);
      const info = await stat(file).catch(() => undefined);
      if (info && info.mtimeMs < cutoff) {
        await unlink(file).catch(() => undefined);
        deleted++;
      }
      if (i % 100 === 0) ctx.heartbeat({ scanned: i + 1, deleted });
    }
    return { olderThanDays: input.olderThanDays, scanned: files.length, deleted };
  },
});
