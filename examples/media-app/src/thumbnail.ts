import { createHash } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { deflateSync } from 'node:zlib';

/**
 * The "image processing" of this example: renders a small PNG for a (url, width) pair without
 * fetching anything. The same pair always gives the same bytes, so a retried or duplicated task is
 * harmless and a test can compute the expected result itself. Pure: no Tideway, no I/O.
 */

/** Where thumbnails are served from (a made-up CDN). */
export const CDN_BASE = 'https://cdn.media-app.example/thumbs';

/** Source formats the thumbnailer accepts, by file extension. */
const FORMATS: Record<string, 'png' | 'jpeg' | 'webp'> = { png: 'png', jpg: 'jpeg', jpeg: 'jpeg', webp: 'webp' };
export const SUPPORTED_EXTENSIONS = Object.keys(FORMATS);

/** The source image's format from its URL's extension, or undefined when it is not one we handle. */
export function sourceFormat(url: string): 'png' | 'jpeg' | 'webp' | undefined {
  const ext = /\.([a-z0-9]+)$/i.exec(new URL(url).pathname)?.[1]?.toLowerCase();
  return ext === undefined ? undefined : FORMATS[ext];
}

/** Content key of a thumbnail: the same (url, width) always gives the same key. */
export function thumbnailKey(url: string, width: number): string {
  return createHash('sha256').update(`${url}\n${width}`).digest('hex').slice(0, 24);
}

/**
 * The task ID the app submits a thumbnail under. Derived from the content key, so asking twice for
 * the same thumbnail finds the task already there (Tideway runs one task per ID).
 */
export function thumbnailTaskId(url: string, width: number): string {
  return `thumb-${thumbnailKey(url, width)}`;
}

export interface RenderOptions {
  /** Called after each band of rows: rows done so far, and the total. */
  onProgress?: (rowsDone: number, rows: number) => void;
  /** Stops the render between bands (a cancelled task). */
  signal?: AbortSignal;
}

export interface RenderedThumbnail {
  source: string;
  url: string;
  key: string;
  width: number;
  height: number;
  format: 'png';
  bytes: number;
  sha256: string;
}

/** Rows rendered between two progress reports. */
const BAND = 32;

/** Renders the thumbnail: a gradient and checkerboard whose colours come from the URL's hash. */
export async function renderThumbnail(
  url: string,
  width: number,
  opts: RenderOptions = {},
): Promise<{ thumbnail: RenderedThumbnail; png: Buffer }> {
  const height = Math.max(1, Math.round((width * 3) / 4));
  const seed = createHash('sha256').update(url).digest();
  const from = [seed[0]!, seed[1]!, seed[2]!];
  const to = [seed[3]!, seed[4]!, seed[5]!];
  const cell = 4 + (seed[6]! % 12);
  const span = Math.max(1, width + height - 2);
  const stride = 1 + width * 3; // PNG: a filter byte, then RGB per pixel
  const raw = Buffer.alloc(stride * height);
  for (let y0 = 0; y0 < height; y0 += BAND) {
    opts.signal?.throwIfAborted();
    const y1 = Math.min(height, y0 + BAND);
    for (let y = y0; y < y1; y++) {
      const row = y * stride;
      raw[row] = 0;
      for (let x = 0; x < width; x++) {
        const t = (x + y) / span;
        const dark = (Math.floor(x / cell) + Math.floor(y / cell)) % 2 === 0 ? 0.85 : 1;
        for (let c = 0; c < 3; c++) raw[row + 1 + x * 3 + c] = Math.round((from[c]! + (to[c]! - from[c]!) * t) * dark);
      }
    }
    opts.onProgress?.(y1, height);
    // Let the event loop breathe between bands (heartbeats are sent from it).
    await yieldToEventLoop();
  }
  const png = encodePng(width, height, raw);
  const key = thumbnailKey(url, width);
  return {
    thumbnail: {
      source: url,
      url: `${CDN_BASE}/${key}.png`,
      key,
      width,
      height,
      format: 'png',
      bytes: png.length,
      sha256: createHash('sha256').update(png).digest('hex'),
    },
    png,
  };
}

/** A minimal PNG encoder: 8-bit RGB, no interlace, one IDAT chunk. */
function encodePng(width: number, height: number, raw: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
