/** The benchmark's chart (docs/images/bench.svg): medians with p10–p90 bars, per contender, latency and Node. */
import type { Summary } from './stats';

export interface ChartSeries {
  /** e.g. `Node 20.20.2`. */
  label: string;
  color: string;
}

export interface ChartRow {
  /** Contender label, short. */
  label: string;
  /** One summary per series (undefined where that series did not run the contender). */
  values: (Summary | undefined)[];
}

export interface ChartPanel {
  /** e.g. `0 ms latency`. */
  title: string;
  rows: ChartRow[];
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A small self-contained SVG: one panel per latency, horizontal bars, a shared millisecond axis per panel. */
export function renderChart(
  title: string,
  series: readonly ChartSeries[],
  panels: readonly ChartPanel[],
): string {
  const width = 760;
  const labelWidth = 250;
  const plotWidth = width - labelWidth - 70;
  const barHeight = 9;
  const rowGap = 8;
  const out: string[] = [];
  let y = 34;
  out.push(
    `<text x="10" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    ...series.map(
      (s, i) =>
        `<rect x="${labelWidth + i * 150}" y="${y - 10}" width="12" height="${barHeight}" fill="${s.color}"/>` +
        `<text x="${labelWidth + i * 150 + 16}" y="${y - 2}" font-size="11">${escapeXml(s.label)}</text>`,
    ),
  );
  y += 10;
  for (const panel of panels) {
    const max = Math.max(1, ...panel.rows.flatMap((row) => row.values.map((v) => v?.p90 ?? 0)));
    const step = niceStep(max);
    const scale = (ms: number) => labelWidth + (ms / (Math.ceil(max / step) * step)) * plotWidth;
    y += 18;
    out.push(`<text x="10" y="${y}" font-size="12" font-weight="bold">${escapeXml(panel.title)}</text>`);
    y += 8;
    const top = y;
    for (const row of panel.rows) {
      const rowHeight = series.length * (barHeight + 2);
      out.push(
        `<text x="${labelWidth - 8}" y="${y + rowHeight / 2 + 3}" font-size="11" text-anchor="end">${escapeXml(row.label)}</text>`,
      );
      row.values.forEach((value, i) => {
        const barY = y + i * (barHeight + 2);
        if (!value) return;
        const mid = barY + barHeight / 2;
        out.push(
          `<rect x="${labelWidth}" y="${barY}" width="${(scale(value.median) - labelWidth).toFixed(1)}" height="${barHeight}" fill="${series[i].color}"/>`,
          `<path d="M${scale(value.p10).toFixed(1)} ${mid}H${scale(value.p90).toFixed(1)}M${scale(value.p10).toFixed(1)} ${mid - 3}v6M${scale(value.p90).toFixed(1)} ${mid - 3}v6" stroke="#222" stroke-width="1"/>`,
          `<text x="${(scale(value.p90) + 4).toFixed(1)}" y="${mid + 3}" font-size="9">${Math.round(value.median)}</text>`,
        );
      });
      y += rowHeight + rowGap;
    }
    for (let ms = 0; ms <= Math.ceil(max / step) * step; ms += step) {
      const x = scale(ms).toFixed(1);
      out.push(
        `<path d="M${x} ${top - 2}V${y - rowGap + 2}" stroke="#ccc" stroke-width="0.5"/>`,
        `<text x="${x}" y="${y + 6}" font-size="9" text-anchor="middle">${ms} ms</text>`,
      );
    }
    y += 10;
  }
  y += 14;
  out.push(
    `<text x="10" y="${y}" font-size="9">Bars: median wall time, spawn to exit; whiskers: p10–p90. npm run bench.</text>`,
  );
  const height = y + 8;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n` +
    `<rect width="${width}" height="${height}" fill="#fff"/>\n${out.join('\n')}\n</svg>\n`
  );
}

/** An axis step of 1, 2 or 5 × 10^n giving 3–8 ticks up to max. */
export function niceStep(max: number): number {
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}
