/** Attention visualization: one text through a model, as a page, SVG, PNG or JSON. */
export { computeAttention, maxInputLength, attentionAt, type AttentionData, type AttentionOptions } from './attention.js';
export { summarizeAttention, type AttentionSummary, type LayerPatterns } from './summary.js';
export { attentionHtml, type AttentionHtmlOptions, type AttentionPrecision } from './html.js';
export { attentionGridSvg, attentionHeadSvg } from './svg.js';
export { encodePng, attentionGridPng, attentionHeadPng } from './png.js';
export {
  renderAttention,
  renderAttentionData,
  attentionJson,
  type RenderAttentionOptions,
  type AttentionRendering,
  type AttentionJson,
  type HeadSelection,
} from './render.js';
export { writeFileAtomic } from './write.js';
