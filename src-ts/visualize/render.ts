/**
 * renderAttention(model, text): the attention of one input and every way to look at it (the
 * page, SVG, PNG, JSON), each made when first asked for.
 */
import { InvalidInputError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import type { Tensor } from '../model/outputs.js';
import { checkLayerHead, checkOptionNames, computeAttention, type AttentionData, type AttentionOptions } from './attention.js';
import { attentionHtml, resolvePrecision, type AttentionPrecision } from './html.js';
import { attentionGridPng, attentionHeadPng } from './png.js';
import { summarizeAttention, type AttentionSummary } from './summary.js';
import { attentionGridSvg, attentionHeadSvg } from './svg.js';

export interface RenderAttentionOptions extends AttentionOptions {
  /** How the page stores the probabilities (see AttentionPrecision; default 'auto'). */
  precision?: AttentionPrecision;
}

/** One layer and head (both from 0), for the single-map SVG / PNG. */
export interface HeadSelection {
  layer: number;
  head: number;
}

/** The JSON form (`--format json`): the matrices as nested arrays, with the tokens. */
export interface AttentionJson {
  model: string;
  architecture: string;
  text: string;
  pair?: string;
  tokens: string[];
  ids: number[];
  tokenTypeIds: number[];
  specialTokensMask: number[];
  layers: number;
  heads: number;
  /** [layer][head][i][j] = p(token i attends to token j). */
  attentions: number[][][][];
  summary: AttentionSummary;
}

export interface AttentionRendering {
  readonly data: AttentionData;
  readonly tokens: string[];
  /** One tensor per layer, dims [heads, L, L] (forward's [1, heads, L, L] without the batch axis). */
  readonly attentions: Tensor[];
  readonly summary: AttentionSummary;
  /** The self-contained page: head view, model view, summary. */
  readonly html: string;
  /** The layers x heads grid as SVG. */
  readonly svg: string;
  /** The layers x heads grid, or one head's map, as SVG / PNG / JSON. */
  toSvg(selection?: HeadSelection): string;
  /** PNG bytes (a Buffer in Node). */
  toPng(selection?: HeadSelection): Uint8Array;
  toJSON(): AttentionJson;
}

export function attentionJson(data: AttentionData, summary: AttentionSummary = summarizeAttention(data)): AttentionJson {
  const L = data.length;
  const attentions = data.attentions.map((a) =>
    Array.from({ length: data.heads }, (_, h) => Array.from({ length: L }, (_, i) => Array.from(a.subarray((h * L + i) * L, (h * L + i + 1) * L)))),
  );
  return {
    model: data.modelName,
    architecture: data.architecture,
    text: data.text,
    ...(data.pair === undefined ? {} : { pair: data.pair }),
    tokens: data.tokens,
    ids: data.ids,
    tokenTypeIds: data.typeIds,
    specialTokensMask: data.special,
    layers: data.layers,
    heads: data.heads,
    attentions,
    summary,
  };
}

function checkSelection(data: AttentionData, selection: HeadSelection | undefined): HeadSelection | undefined {
  if (selection === undefined) return undefined;
  if (selection === null || typeof selection !== 'object') throw new InvalidInputError('the selection must be { layer, head }');
  checkOptionNames(selection, new Set(['layer', 'head']), 'selection');
  checkLayerHead(data, selection.layer, selection.head);
  return selection;
}

/** Wraps computed attention data in the renderers. */
export function renderAttentionData(data: AttentionData, options: { precision?: AttentionPrecision } = {}): AttentionRendering {
  resolvePrecision(data, options.precision);
  let summary: AttentionSummary | undefined;
  let html: string | undefined;
  let svg: string | undefined;
  const getSummary = (): AttentionSummary => (summary ??= summarizeAttention(data));
  return {
    data,
    tokens: data.tokens,
    attentions: data.attentions.map((a) => ({ dims: [data.heads, data.length, data.length], data: a })),
    get summary() {
      return getSummary();
    },
    get html() {
      return (html ??= attentionHtml(data, getSummary(), { precision: options.precision }));
    },
    get svg() {
      return (svg ??= attentionGridSvg(data));
    },
    toSvg(selection) {
      const s = checkSelection(data, selection);
      return s ? attentionHeadSvg(data, s.layer, s.head) : this.svg;
    },
    toPng(selection) {
      const s = checkSelection(data, selection);
      return s ? attentionHeadPng(data, s.layer, s.head) : attentionGridPng(data);
    },
    toJSON() {
      return attentionJson(data, getSummary());
    },
  };
}

/**
 * Runs `model` on `text` (and `options.pair`) with outputAttentions and returns the attention with
 * its renderings: `html` (a self-contained page), `svg`, `toPng()`, `toJSON()`.
 *
 *   const view = await renderAttention(model, 'The cat sat on the mat.');
 *   await writeFile('attention.html', view.html);
 */
export async function renderAttention(model: BertModel, text: string, options: RenderAttentionOptions = {}): Promise<AttentionRendering> {
  if (options === null || typeof options !== 'object') throw new InvalidInputError('options must be an object');
  checkOptionNames(options, new Set(['pair', 'truncate', 'tokenizer', 'modelName', 'precision']), 'renderAttention');
  const { precision, ...rest } = options;
  if (precision !== undefined && !['auto', 'float32', 'uint16'].includes(precision)) {
    throw new InvalidInputError(`precision must be 'auto', 'float32' or 'uint16', got ${JSON.stringify(precision)}`);
  }
  const data = await computeAttention(model, text, rest);
  return renderAttentionData(data, precision === undefined ? {} : { precision });
}
