import { Resvg } from '@resvg/resvg-js';
import * as echarts from 'echarts';

/**
 * Charts drawn by ECharts on the server: an option in, an SVG string out (what a page can inline),
 * or a PNG (what docs/ and a README show). The benches use it for their figures; the dashboard can
 * render the same options in the browser with ECharts, or here for an image. No DOM, no browser.
 */

export type ChartOption = echarts.EChartsOption;

export interface ChartSize {
  width: number;
  height: number;
}

/** Font every chart uses: present on Debian-like hosts (fonts-dejavu), resvg finds it among the system fonts. */
export const CHART_FONT = 'DejaVu Sans';

/** Renders `option` to an SVG document. Animation is off: a server-side render is a single frame. */
export function renderSvg(option: ChartOption, size: ChartSize): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: size.width, height: size.height });
  try {
    chart.setOption({ animation: false, textStyle: { fontFamily: CHART_FONT }, ...option });
    return chart.renderToSVGString();
  } finally {
    // Without this the chart keeps timers alive and the process does not exit.
    chart.dispose();
  }
}

/** Renders `option` to a PNG on a white background (`scale` 2 for sharp text on high-density screens). */
export function renderPng(option: ChartOption, size: ChartSize, scale = 1): Buffer {
  const svg = renderSvg(option, size);
  const png = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: CHART_FONT },
  })
    .render()
    .asPng();
  return Buffer.from(png);
}
