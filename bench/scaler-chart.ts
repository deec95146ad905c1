/** Draws the simulator's day as a PNG with pngjs: replicas on top, backlog below, hours along the bottom. */
import { writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';

// 5×7 bitmap font, one string of 7 rows per glyph ('#' = ink); only the characters the chart uses.
const FONT: Record<string, string> = {
  '0': '.###.#...##..###.#.###..##...#.###.',
  '1': '..#...##....#....#....#....#...###.',
  '2': '.###.#...#....#...#...#...#...#####',
  '3': '####.....#...#...##.....##...#.###.',
  '4': '...#...##..#.#.#..#.#####...#....#.',
  '5': '######....####.....#....##...#.###.',
  '6': '..##..#...#....####.#...##...#.###.',
  '7': '#####....#...#...#...#....#....#...',
  '8': '.###.#...##...#.###.#...##...#.###.',
  '9': '.###.#...##...#.####....#...#..##..',
  A: '.###.#...##...#######...##...##...#',
  B: '####.#...##...#####.#...##...#####.',
  C: '.###.#...##....#....#....#...#.###.',
  D: '###..#..#.#...##...##...##..#.###..',
  E: '######....#....####.#....#....#####',
  F: '######....#....####.#....#....#....',
  G: '.###.#...##....#.####...##...#.####',
  H: '#...##...##...#######...##...##...#',
  I: '.###...#....#....#....#....#...###.',
  K: '#...##..#.#.#..##...#.#..#..#.#...#',
  L: '#....#....#....#....#....#....#####',
  M: '#...###.###.#.##.#.##...##...##...#',
  N: '#...##...###..##.#.##..###...##...#',
  O: '.###.#...##...##...##...##...#.###.',
  P: '####.#...##...#####.#....#....#....',
  Q: '.###.#...##...##...##.#.##..#..##.#',
  R: '####.#...##...#####.#.#..#..#.#...#',
  S: '.####.....#.....###.....#....#####.',
  T: '#####..#....#....#....#....#....#..',
  U: '#...##...##...##...##...##...#.###.',
  V: '#...##...##...##...##...#.#.#...#..',
  W: '#...##...##...##.#.##.#.##.#.#.#.#.',
  Y: '#...##...#.#.#...#....#....#....#..',
  X: '#...##...#.#.#...#...#.#.#...##...#',
  Z: '#####....#...#...#...#...#....#####',
  ' ': '...................................',
  ':': '......##...##........##...##.......',
  '.': '..............................##...',
  '-': '...............###.................',
  '/': '.....#....#...#...#...#....#.......',
  '(': '...#...#...#....#....#.....#.....#.',
  ')': '.#.....#.....#....#....#...#...#...',
  '+': '.......#....#..#####..#....#.......',
  '%': '##...##..#...#...#...#...#..##...##',
  '=': '..........#####.....#####..........',
  ',': '.....................##....#...#...',
};

type RGB = readonly [number, number, number];

/** A tiny raster canvas over a pngjs image. */
class Canvas {
  readonly png: PNG;
  constructor(
    readonly w: number,
    readonly h: number,
  ) {
    this.png = new PNG({ width: w, height: h });
    this.rect(0, 0, w, h, [255, 255, 255]);
  }
  px(x: number, y: number, c: RGB): void {
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return;
    const i = (Math.floor(y) * this.w + Math.floor(x)) * 4;
    this.png.data[i] = c[0];
    this.png.data[i + 1] = c[1];
    this.png.data[i + 2] = c[2];
    this.png.data[i + 3] = 255;
  }
  rect(x: number, y: number, w: number, h: number, c: RGB): void {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.px(x + i, y + j, c);
  }
  text(x: number, y: number, s: string, c: RGB, scale = 2): void {
    let cx = x;
    for (const ch of s.toUpperCase()) {
      const g = FONT[ch] ?? FONT[' ']!;
      for (let r = 0; r < 7; r++)
        for (let k = 0; k < 5; k++) if (g[r * 5 + k] === '#') this.rect(cx + k * scale, y + r * scale, scale, scale, c);
      cx += 6 * scale;
    }
  }
  textWidth(s: string, scale = 2): number {
    return s.length * 6 * scale;
  }
}

const INK: RGB = [30, 30, 30];
const GRID: RGB = [225, 225, 225];
const BLUE: RGB = [31, 100, 200];
const ORANGE: RGB = [230, 120, 20];
const RED: RGB = [200, 30, 30];

/** One panel: a step series over 1,440 minutes with a y axis up to `max`. */
function panel(c: Canvas, top: number, height: number, series: Int32Array, max: number, color: RGB, label: string, fires: number[]): void {
  const left = 90;
  const width = c.w - left - 30;
  c.text(left, top - 22, label, INK);
  for (let k = 0; k <= 4; k++) {
    const y = top + height - Math.round((k / 4) * height);
    c.rect(left, y, width, 1, GRID);
    const v = String(Math.round((max * k) / 4));
    c.text(left - 10 - c.textWidth(v), y - 7, v, INK);
  }
  for (let h = 0; h <= 24; h += 3) {
    const x = left + Math.round((h / 24) * width);
    c.rect(x, top, 1, height, GRID);
  }
  for (const f of fires) c.rect(left + Math.round((f / 86_400) * width), top, 2, height, RED);
  let prevY: number | undefined;
  for (let m = 0; m < series.length; m++) {
    const x0 = left + Math.floor((m / series.length) * width);
    const x1 = left + Math.floor(((m + 1) / series.length) * width);
    const y = top + height - Math.round((Math.min(series[m]!, max) / Math.max(max, 1)) * height);
    if (prevY !== undefined) c.rect(x0, Math.min(prevY, y), 2, Math.abs(prevY - y) + 1, color);
    c.rect(x0, y - 1, Math.max(1, x1 - x0), 3, color);
    prevY = y;
  }
  c.rect(left, top + height, width, 2, INK);
  c.rect(left, top, 2, height, INK);
}

export interface ChartInput {
  title: string;
  subtitle: string;
  replicas: Int32Array;
  backlog: Int32Array;
  maxReplicas: number;
  maxBacklog: number;
  fires: number[];
}

/** Renders the chart and writes it to `file`. */
export function writeChart(file: string, d: ChartInput): void {
  const c = new Canvas(1200, 620);
  c.text(20, 14, d.title, INK, 3);
  c.text(20, 44, d.subtitle, INK, 2);
  panel(c, 110, 190, d.replicas, d.maxReplicas, BLUE, 'REPLICAS (INCL. STARTING)', d.fires);
  panel(c, 360, 190, d.backlog, d.maxBacklog, ORANGE, 'BACKLOG (TASKS WAITING)', d.fires);
  const left = 90;
  const width = c.w - left - 30;
  for (let h = 0; h <= 24; h += 3) {
    const s = `${String(h).padStart(2, '0')}:00`;
    c.text(left + Math.round((h / 24) * width) - c.textWidth(s) / 2, 565, s, INK);
  }
  c.text(left, 592, 'RED LINE = CRON FIRE (20000 TASKS); TIME OF DAY, UTC', RED, 2);
  writeFileSync(file, PNG.sync.write(c.png));
}
