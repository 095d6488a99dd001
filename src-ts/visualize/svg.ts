/**
 * Static SVG: the layers x heads grid, or one head's map with token labels. Each map is an
 * embedded PNG (an L x L map of <rect>s would be 262,144 elements at 512 tokens).
 */
import type { AttentionData } from './attention.js';
import { checkLayerHead, segmentBoundary } from './attention.js';
import { rampHex } from './colors.js';
import { attentionHeadPng, cellSize, gridGeometry, Raster } from './png.js';

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function pngHref(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64')}`;
}

function legend(x: number, y: number, width: number): string {
  const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => `<stop offset="${t}" stop-color="${rampHex(t * t)}"/>`).join('');
  return (
    `<defs><linearGradient id="ramp">${stops}</linearGradient></defs>` +
    `<rect x="${x}" y="${y}" width="${width}" height="10" fill="url(#ramp)" stroke="#999" stroke-width="0.5"/>` +
    `<text x="${x}" y="${y + 22}" font-size="10">0</text>` +
    `<text x="${x + width / 4}" y="${y + 22}" font-size="10" text-anchor="middle">0.0625</text>` +
    `<text x="${x + width}" y="${y + 22}" font-size="10" text-anchor="end">1 (colour ∝ √p)</text>`
  );
}

function svgDoc(width: number, height: number, title: string, body: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif">\n` +
    `<title>${escapeXml(title)}</title>\n<rect width="100%" height="100%" fill="#fff"/>\n${body}\n</svg>\n`
  );
}

/** The layers x heads grid: rows are layers, columns heads (both from 0). */
export function attentionGridSvg(data: AttentionData): string {
  const g = gridGeometry(data);
  const left = 64;
  const top = 48;
  const width = left + g.width + 16;
  const height = top + g.height + 48;
  const parts: string[] = [`<text x="8" y="18" font-size="13">${escapeXml(`${data.modelName}: attention, ${data.layers} layers x ${data.heads} heads, ${data.length} tokens`)}</text>`];
  for (let h = 0; h < data.heads; h++) {
    parts.push(`<text x="${left + g.gap + h * (g.size + g.gap) + g.size / 2}" y="${top - 6}" font-size="11" text-anchor="middle">head ${h}</text>`);
  }
  for (let l = 0; l < data.layers; l++) {
    const y = top + g.gap + l * (g.size + g.gap);
    parts.push(`<text x="${left - 6}" y="${y + g.size / 2 + 4}" font-size="11" text-anchor="end">layer ${l}</text>`);
    for (let h = 0; h < data.heads; h++) {
      const r = new Raster(g.size, g.size);
      r.heatmap(data, l, h, 0, 0, g.cell);
      parts.push(
        `<image x="${left + g.gap + h * (g.size + g.gap)}" y="${y}" width="${g.size}" height="${g.size}" style="image-rendering:pixelated" href="${pngHref(r.png())}"><title>layer ${l}, head ${h}</title></image>`,
      );
    }
  }
  parts.push(legend(left + g.gap, top + g.height + 10, Math.min(240, g.width - 2 * g.gap)));
  return svgDoc(width, height, `${data.modelName} attention`, parts.join('\n'));
}

/** One head's L x L map with the tokens along both axes (queries down the left, keys across the top). */
export function attentionHeadSvg(data: AttentionData, layer: number, head: number): string {
  checkLayerHead(data, layer, head);
  const L = data.length;
  const cell = Math.max(Math.min(40, cellSize(L, 640)), L <= 48 ? 14 : 1);
  const size = cell * L;
  const font = Math.min(12, Math.max(6, cell - 3));
  const labels = cell >= 7;
  const labelWidth = labels ? Math.ceil(Math.min(140, 8 + font * 0.62 * Math.max(...data.tokens.map((t) => t.length)))) : 8;
  const left = 8 + labelWidth;
  const top = 32 + labelWidth;
  const width = left + size + 16;
  const height = top + size + 48;
  const parts: string[] = [
    `<text x="8" y="18" font-size="13">${escapeXml(`${data.modelName}: layer ${layer}, head ${head} (${L} tokens; rows attend to columns)`)}</text>`,
    `<image x="${left}" y="${top}" width="${size}" height="${size}" style="image-rendering:pixelated" href="${pngHref(attentionHeadPng(data, layer, head, cell))}"/>`,
  ];
  if (labels) {
    for (let i = 0; i < L; i++) {
      const t = escapeXml(data.tokens[i]!);
      const c = Math.round((i * cell + cell / 2 + font / 3) * 10) / 10;
      parts.push(`<text x="${left - 4}" y="${top + c}" font-size="${font}" text-anchor="end">${t}</text>`);
      parts.push(`<text transform="translate(${left + c},${top - 4}) rotate(-90)" font-size="${font}">${t}</text>`);
    }
  }
  const boundary = segmentBoundary(data);
  if (boundary !== null) {
    // Where the second text starts, across and down the map.
    const b = boundary * cell;
    parts.push(`<path d="M${left} ${top + b}h${size}M${left + b} ${top}v${size}" stroke="#dc2626" stroke-width="1" stroke-dasharray="4 3" fill="none"/>`);
  }
  parts.push(legend(left, top + size + 10, Math.min(240, Math.max(120, size))));
  return svgDoc(width, height, `${data.modelName} attention, layer ${layer}, head ${head}`, parts.join('\n'));
}
