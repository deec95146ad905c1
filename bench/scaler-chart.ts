/** The simulator's day as a chart (ECharts, charts/render.ts): replicas on top, backlog below, cron fires marked, the fire's hour zoomed. */
import { writeFileSync } from 'node:fs';
import { renderPng, type ChartOption } from '../charts/render';

export interface ChartInput {
  title: string;
  subtitle: string;
  /** One value per minute of the day. */
  replicas: Int32Array;
  backlog: Int32Array;
  maxReplicas: number;
  /** The backlog axis's top, shared by every policy's chart so they compare at a glance. */
  maxBacklog: number;
  /** Seconds of the day at which the cron schedule fires. */
  fires: number[];
  /** Tasks each fire starts, for the marker's label. */
  tasksPerFire: number;
}

const BLUE = '#1f64c8';
const ORANGE = '#e67814';
const RED = '#c81e1e';

/** Minutes shown before and after the first cron fire in the zoomed panels. */
const ZOOM_BEFORE_MIN = 5;
const ZOOM_AFTER_MIN = 20;

/**
 * The ECharts option of one policy's day (exported so a page could draw the same chart): the whole
 * day on the left, and on the right the hour around the first cron fire, where the policies differ.
 */
export function scalerChartOption(d: ChartInput): ChartOption {
  const fireMin = d.fires.length > 0 ? Math.floor(d.fires[0]! / 60) : 0;
  const zoom = { from: Math.max(0, fireMin - ZOOM_BEFORE_MIN), to: Math.min(1_440, fireMin + ZOOM_AFTER_MIN) };
  const day = (values: Int32Array) => Array.from(values, (v, m) => [m / 60, v]);
  const around = (values: Int32Array) => Array.from(values.subarray(zoom.from, zoom.to), (v, i) => [zoom.from + i, v]);
  const clock = (min: number) => `${String(Math.floor(min / 60)).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`;
  const fireLines = (unit: 'h' | 'min', label: boolean) => ({
    symbol: 'none',
    silent: true,
    lineStyle: { color: RED, type: 'dashed' as const, width: 1.5, opacity: 0.8 },
    label: label
      ? { formatter: `cron fire: ${d.tasksPerFire.toLocaleString('en-US')} tasks`, color: RED, position: 'insideEndTop' as const }
      : { show: false },
    data: d.fires.map((s) => ({ xAxis: unit === 'h' ? s / 3600 : s / 60 })),
  });
  const grid = '#e6e6e6';
  const dayAxis = (gridIndex: number, named: boolean) => ({
    type: 'value' as const,
    gridIndex,
    min: 0,
    max: 24,
    interval: 3,
    axisLabel: { formatter: (h: number) => clock(h * 60), show: named },
    ...(named ? { name: 'time of day (UTC)', nameLocation: 'middle' as const, nameGap: 28 } : {}),
    splitLine: { lineStyle: { color: grid } },
  });
  const zoomAxis = (gridIndex: number, named: boolean) => ({
    type: 'value' as const,
    gridIndex,
    min: zoom.from,
    max: zoom.to,
    interval: 5,
    axisLabel: { formatter: clock, show: named },
    ...(named ? { name: 'the first fire, minute by minute', nameLocation: 'middle' as const, nameGap: 28 } : {}),
    splitLine: { lineStyle: { color: grid } },
  });
  const yAxis = (gridIndex: number, name: string, max: number) => ({
    type: 'value' as const,
    gridIndex,
    min: 0,
    max,
    ...(name ? { name, nameLocation: 'middle' as const, nameGap: 48 } : {}),
    splitLine: { lineStyle: { color: grid } },
  });
  const line = (name: string, color: string, opacity: number, axis: number, data: number[][], markLine: object) => ({
    name,
    type: 'line' as const,
    step: 'end' as const,
    showSymbol: false,
    xAxisIndex: axis,
    yAxisIndex: axis,
    lineStyle: { color, width: 2 },
    itemStyle: { color },
    areaStyle: { color, opacity },
    data,
    markLine,
  });
  const REPLICAS = 'replicas (incl. starting)';
  const BACKLOG = 'backlog (tasks waiting)';
  const maxBacklog = Math.max(1, d.maxBacklog);
  return {
    title: {
      text: d.title,
      subtext: d.subtitle,
      left: 16,
      top: 8,
      textStyle: { fontSize: 20 },
      subtextStyle: { fontSize: 13, color: '#444' },
    },
    // resvg's font is wider than the one ECharts measures with: generous gaps keep the items apart.
    legend: { top: 20, right: 30, itemGap: 80, data: [REPLICAS, BACKLOG] },
    grid: [
      { left: 80, width: 760, top: 90, height: 200 },
      { left: 80, width: 760, top: 340, height: 200 },
      { left: 900, right: 30, top: 90, height: 200 },
      { left: 900, right: 30, top: 340, height: 200 },
    ],
    xAxis: [dayAxis(0, false), dayAxis(1, true), zoomAxis(2, false), zoomAxis(3, true)],
    yAxis: [yAxis(0, 'replicas', d.maxReplicas), yAxis(1, 'backlog', maxBacklog), yAxis(2, '', d.maxReplicas), yAxis(3, '', maxBacklog)],
    series: [
      line(REPLICAS, BLUE, 0.15, 0, day(d.replicas), fireLines('h', true)),
      line(BACKLOG, ORANGE, 0.25, 1, day(d.backlog), fireLines('h', false)),
      line(REPLICAS, BLUE, 0.15, 2, around(d.replicas), fireLines('min', false)),
      line(BACKLOG, ORANGE, 0.25, 3, around(d.backlog), fireLines('min', false)),
    ],
  };
}

/** Renders the chart and writes it to `file` as a PNG. */
export function writeChart(file: string, d: ChartInput): void {
  writeFileSync(file, renderPng(scalerChartOption(d), { width: 1200, height: 610 }));
}
