/**
 * The self-contained attention page: markup, style, the data as a JSON island and the inline
 * script (page-script.ts). Its Content-Security-Policy forbids every network request, so it opens
 * the same from disk, an e-mail attachment or a web server.
 */
import { InvalidInputError } from '../errors.js';
import { segmentBoundary, type AttentionData } from './attention.js';
import { HEAD_COLORS, RAMP_LUT, headColor } from './colors.js';
import { PAGE_SCRIPT } from './page-script.js';
import type { AttentionSummary } from './summary.js';
import { escapeXml as esc } from './svg.js';

/**
 * How the probabilities are stored in the page: 'float32' exactly; 'uint16' as round(p * 65535)
 * (off by at most 7.7e-6, half the size); 'auto' (default) uses float32 up to 8M values (32 MB,
 * e.g. 12 layers x 12 heads x 240 tokens) and uint16 past that (bert-base at 512 tokens: 75 MB).
 */
export type AttentionPrecision = 'float32' | 'uint16' | 'auto';

export interface AttentionHtmlOptions {
  precision?: AttentionPrecision;
}

const AUTO_FLOAT32_LIMIT = 8 * 1024 * 1024;

export function resolvePrecision(data: AttentionData, precision: AttentionPrecision = 'auto'): 'float32' | 'uint16' {
  if (precision !== 'auto' && precision !== 'float32' && precision !== 'uint16') {
    throw new InvalidInputError(`precision must be 'auto', 'float32' or 'uint16', got ${JSON.stringify(precision)}`);
  }
  if (precision !== 'auto') return precision;
  return data.layers * data.heads * data.length * data.length <= AUTO_FLOAT32_LIMIT ? 'float32' : 'uint16';
}

function encodeAttention(data: AttentionData, precision: 'float32' | 'uint16'): string {
  const per = data.heads * data.length * data.length;
  if (precision === 'float32') {
    const all = new Float32Array(per * data.layers);
    data.attentions.forEach((a, l) => all.set(a, l * per));
    return Buffer.from(all.buffer, all.byteOffset, all.byteLength).toString('base64');
  }
  const all = new Uint16Array(per * data.layers);
  for (let l = 0; l < data.layers; l++) {
    const a = data.attentions[l]!;
    const o = l * per;
    for (let k = 0; k < per; k++) {
      const v = a[k]!;
      all[o + k] = v <= 0 ? 0 : v >= 1 ? 65535 : (v * 65535 + 0.5) | 0;
    }
  }
  return Buffer.from(all.buffer, all.byteOffset, all.byteLength).toString('base64');
}

const f4 = (x: number | null): string => (x === null ? '–' : x.toFixed(4));

function tokenSpans(data: AttentionData, boundary: number | null): string {
  const out: string[] = [];
  for (let i = 0; i < data.length; i++) {
    if (i === boundary) out.push('<span class="segb" title="second text starts here">│</span>');
    const cls = ['tok', data.special[i] ? 'special' : '', data.subword[i] ? 'sub' : '', data.typeIds[i] ? 'seg1' : ''].filter(Boolean).join(' ');
    out.push(`<span class="${cls}" title="token ${i}, id ${data.ids[i]}, segment ${data.typeIds[i]}">${esc(data.tokens[i]!)}</span>`);
  }
  return out.join('');
}

function summaryTable(summary: AttentionSummary): string {
  const bar = (x: number | null): string =>
    x === null ? '<td>–</td>' : `<td><span class="cellbar" style="width:${(100 * x).toFixed(1)}%"></span><span class="v">${f4(x)}</span></td>`;
  const rows = summary.layers.map(
    (p, l) => `<tr data-layer="${l}"><th>${l}</th>${bar(p.cls)}${bar(p.sep)}${bar(p.previous)}${bar(p.next)}${bar(p.self)}</tr>`,
  );
  return (
    '<table id="summary-table" class="num"><thead><tr><th>layer</th><th>→ [CLS] (first token)</th><th>→ [SEP] (other special tokens)</th>' +
    `<th>→ previous token</th><th>→ next token</th><th>→ itself</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
  );
}

function rolloutBars(data: AttentionData, values: number[]): string {
  const max = Math.max(...values, 0);
  return values
    .map(
      (v, i) =>
        `<div class="rb" data-index="${i}"><span class="t${data.special[i] ? ' special' : ''}">${esc(data.tokens[i]!)}</span>` +
        `<span class="v" style="--w:${(max > 0 ? (100 * v) / max : 0).toFixed(2)}%">${f4(v)}</span></div>`,
    )
    .join('');
}

const STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.45 "DejaVu Sans", Arial, sans-serif; margin: 0 auto; max-width: 1280px; padding: 16px 24px 64px; color: #111; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }
nav a { margin-right: 14px; } .muted, .hint { color: #6b7280; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 8px 0; } dl.meta dt { color: #6b7280; } dl.meta dd { margin: 0; white-space: pre-wrap; }
#tokens { line-height: 2.1; } .tok { border: 1px solid #d1d5db; border-radius: 4px; padding: 1px 4px; margin: 0 2px 0 0; background: #f9fafb; font-family: "DejaVu Sans Mono", monospace; font-size: 13px; }
.tok.sub { border-left: 3px solid #f59e0b; margin-left: -1px; } .tok.special { color: #b91c1c; background: #fef2f2; } .tok.seg1 { background: #eff6ff; } .segb { color: #9ca3af; margin: 0 6px; }
.legend span { margin-right: 14px; }
.controls { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: center; margin: 6px 0 10px; }
.head-toggle { display: inline-flex; align-items: center; gap: 3px; cursor: pointer; } .sw { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 3px; vertical-align: -1px; }
.hv { display: flex; gap: 24px; align-items: flex-start; } #hv-canvas { cursor: crosshair; flex: none; }
#hv-detail { position: sticky; top: 8px; min-width: 260px; }
#hv-scroll { overflow-y: auto; contain: content; } #hv-scroll thead th { position: sticky; top: 0; background: #fff; z-index: 1; }
#hv-scroll tr { height: 20px; } #hv-scroll td, #hv-scroll th { padding-top: 0; padding-bottom: 0; white-space: nowrap; } #hv-scroll td.t { max-width: 140px; overflow: hidden; text-overflow: ellipsis; }
table.num { border-collapse: collapse; font-size: 12px; } table.num th, table.num td { padding: 2px 6px; border-bottom: 1px solid #f3f4f6; text-align: left; } table.num td { font-variant-numeric: tabular-nums; }
#mv-grid { display: grid; gap: 6px; align-items: center; justify-content: start; }
#mv-grid .rl, #mv-grid .cl { font-size: 11px; color: #6b7280; text-align: center; } #mv-grid .rl { text-align: right; padding-right: 4px; }
canvas.mv-cell { border: 1px solid #e5e7eb; cursor: pointer; display: block; } canvas.mv-cell:hover, canvas.mv-cell:focus { outline: 2px solid #93c5fd; } canvas.mv-cell.sel { outline: 3px solid #f59e0b; }
#mv-detail { margin-top: 14px; } #mv-readout { margin: 6px 0; min-height: 1.5em; } #mv-big { cursor: crosshair; }
#summary-table td { position: relative; min-width: 120px; } .cellbar { position: absolute; left: 0; top: 3px; bottom: 3px; background: #dbeafe; z-index: 0; } #summary-table .v { position: relative; }
#rollout { columns: 3 320px; } .rb { display: flex; align-items: center; gap: 6px; break-inside: avoid; font-size: 12px; }
.rb .t { width: 110px; text-align: right; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-family: "DejaVu Sans Mono", monospace; } .rb .t.special { color: #b91c1c; }
.rb .v { flex: 1; display: flex; align-items: center; gap: 6px; font-variant-numeric: tabular-nums; }
.rb .v::before { content: ""; height: 9px; width: calc(var(--w) * 0.8); min-width: 1px; background: #2171b5; box-shadow: 0 0 0 1px #f3f4f6; }
footer { margin-top: 36px; color: #374151; font-size: 13px; }
`;

/** The whole page as one HTML string. */
export function attentionHtml(data: AttentionData, summary: AttentionSummary, options: AttentionHtmlOptions = {}): string {
  const precision = resolvePrecision(data, options.precision);
  const boundary = segmentBoundary(data);
  const island = {
    length: data.length,
    layers: data.layers,
    heads: data.heads,
    tokens: data.tokens,
    typeIds: data.typeIds,
    special: data.special,
    segmentBoundary: boundary,
    headColors: HEAD_COLORS,
    ramp: Array.from(RAMP_LUT),
    precision,
    rolloutFirst: summary.rolloutFirst,
    rolloutMean: summary.rolloutMean,
  };
  // Inside <script>, "</script" or "<!--" in a token would end the island: escape every "<". The
  // probabilities go in a script element of their own, as base64 (no "<"): 100 MB are not scanned.
  const json = JSON.stringify(island).replace(/</g, '\\u003c');
  const layerOptions = Array.from({ length: data.layers }, (_, l) => `<option value="${l}">${l}</option>`).join('');
  const headToggles = Array.from(
    { length: data.heads },
    (_, h) => `<label class="head-toggle"><input type="checkbox" data-head="${h}" checked><span class="sw" style="background:${headColor(h)}"></span>${h}</label>`,
  ).join('');
  const grid: string[] = ['<div></div>'];
  for (let h = 0; h < data.heads; h++) grid.push(`<div class="cl">head ${h}</div>`);
  for (let l = 0; l < data.layers; l++) {
    grid.push(`<div class="rl">layer ${l}</div>`);
    for (let h = 0; h < data.heads; h++) {
      grid.push(`<canvas class="mv-cell" data-layer="${l}" data-head="${h}" tabindex="0" role="button" aria-label="layer ${l}, head ${h}"></canvas>`);
    }
  }
  const c = data.computed;
  const words = data.subword.filter((s) => !s).length - data.special.filter((s) => s === 1).length;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="bertkit">
<title>Attention: ${esc(data.modelName)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Attention of <span id="model-name">${esc(data.modelName)}</span></h1>
<nav><a href="#tokenization">tokens</a><a href="#head-view">head view</a><a href="#model-view">model view</a><a href="#summary">summary</a><a href="#how">how it was computed</a></nav>
<dl class="meta">
<dt>text</dt><dd id="text">${esc(data.text)}</dd>
${data.pair === undefined ? '' : `<dt>pair</dt><dd id="pair">${esc(data.pair)}</dd>\n`}<dt>model</dt><dd>${esc(data.architecture)}: ${data.layers} layers x ${data.heads} heads</dd>
<dt>tokens</dt><dd>${data.length}${c.truncated ? ' (truncated to the model\'s maximum length)' : ''}</dd>
</dl>
</header>
<section id="tokenization">
<h2>Tokenization</h2>
<div id="tokens">${tokenSpans(data, boundary)}</div>
<p class="legend muted"><span><span class="tok special">red</span> special tokens</span><span><span class="tok sub">orange edge</span> continues the previous word (sub-word)</span>${boundary === null ? '' : '<span><span class="tok seg1">blue</span> second text (segment 1)</span>'}<span>${words} words</span></p>
</section>
<section id="head-view">
<h2>Head view</h2>
<p class="muted">Lines join each token (left) to the tokens it attends to (right), one colour per head, opacity = probability.${data.length > 64 ? ' With no token hovered, lines under 0.02 are left out.' : ''}</p>
<div class="controls"><label>Layer <select id="hv-layer">${layerOptions}</select></label><span id="hv-heads">Heads ${headToggles}</span><button id="hv-all" type="button">all</button><button id="hv-none" type="button">none</button></div>
<div class="hv"><canvas id="hv-canvas"></canvas><div id="hv-detail"></div></div>
</section>
<section id="model-view">
<h2>Model view</h2>
<p class="muted">Every layer (rows) and head (columns); each square is the head's token x token map (row attends to column, darker = more). Click one to open it large.</p>
<div id="mv-grid" style="grid-template-columns: max-content repeat(${data.heads}, max-content)">${grid.join('')}</div>
<div id="mv-detail" hidden><h3 id="mv-title"></h3><div id="mv-readout"></div><canvas id="mv-big"></canvas></div>
</section>
<section id="summary">
<h2>Summary</h2>
<p class="muted">Per layer, averaged over heads and tokens: the probability mass on the first token, on the other special tokens, on the previous and next token and on the token itself (Clark et al. 2019, “What does BERT look at?”).</p>
${summaryTable(summary)}
<h3>Attention rollout</h3>
<p class="muted">Abnar &amp; Zuidema (2020): Ã = ½·(mean over heads of A) + ½·I per layer, multiplied from the last layer down to the input; how much each input token flows into <label><select id="ro-from"><option value="first">the first token (${esc(data.tokens[0] ?? '')})</option><option value="mean">the average output token</option></select></label>.</p>
<div id="rollout">${rolloutBars(data, summary.rolloutFirst)}</div>
</section>
<footer id="how">
<h2>How it was computed</h2>
<p>bertkit ran <code>model.forward(input, { outputAttentions: true })</code> on the ${data.pair === undefined ? 'text' : 'text pair'} above (${data.length} tokens, no padding) on the ${esc(c.backend)} backend (${esc(c.dtype)}, ${esc(c.isa)}). Every number is a softmax attention probability p(row token → column token) of one layer and head${precision === 'float32' ? ', stored in this page as float32 exactly as the model returned it' : ', stored in this page as round(p x 65535) / 65535 (at most 7.7e-6 off)'}. Colours are on √p (white 0, dark blue 1) so that small weights stay visible. Layers and heads count from 0. The page uses no network: everything is in this file.</p>
</footer>
<script type="application/json" id="bk-data">${json}</script>
<script type="application/octet-stream" id="bk-attention">${encodeAttention(data, precision)}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

