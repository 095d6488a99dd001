/** A loss-curve chart as a standalone SVG (no dependencies): training loss per step, evaluation loss / metric points. */

export interface ChartSeries {
  name: string;
  points: [number, number][];
  color: string;
  /** Points only (evaluations), no line. */
  dots?: boolean;
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Renders the series on shared axes (x: optimizer step, y: loss). */
export function lossChartSvg(series: readonly ChartSeries[], title = 'Training loss', width = 720, height = 400): string {
  const pad = { l: 60, r: 20, t: 40, b: 45 };
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const x0 = Math.min(0, ...xs), x1 = Math.max(1, ...xs);
  let y0 = Math.min(...ys, Infinity), y1 = Math.max(...ys, -Infinity);
  if (!Number.isFinite(y0)) [y0, y1] = [0, 1];
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  y0 = Math.max(0, y0 - 0.05 * (y1 - y0));
  const W = width - pad.l - pad.r, H = height - pad.t - pad.b;
  const sx = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * W;
  const sy = (y: number) => pad.t + H - ((y - y0) / (y1 - y0)) * H;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${pad.l}" x2="${pad.l + W}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${pad.l - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${t}</text>`);
  }
  for (const t of niceTicks(x0, x1, 8)) {
    parts.push(`<text x="${sx(t).toFixed(1)}" y="${pad.t + H + 18}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<rect x="${pad.l}" y="${pad.t}" width="${W}" height="${H}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${pad.l + W / 2}" y="${height - 8}" text-anchor="middle">step</text>`);
  series.forEach((s, k) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (s.dots) {
      for (const [x, y] of pts) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${s.color}"/>`);
    } else if (pts.length) {
      const d = pts.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    }
    const ly = pad.t + 14 + k * 16;
    parts.push(`<rect x="${pad.l + W - 150}" y="${ly - 9}" width="12" height="3" fill="${s.color}"/>`);
    parts.push(`<text x="${pad.l + W - 132}" y="${ly - 4}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** Exponential moving average (the smoothed curve next to the raw one). */
export function smooth(points: readonly [number, number][], alpha = 0.1): [number, number][] {
  let m: number | undefined;
  return points.map(([x, y]) => {
    m = m === undefined ? y : m + alpha * (y - m);
    return [x, m];
  });
}
