/**
 * Colours shared by the page, the SVG and the PNG: one sequential ramp for probabilities (on √p,
 * so that the many small weights of a long input stay visible) and one categorical colour per head.
 */

/** White → dark blue stops (ColorBrewer "Blues"), at t = 0, 0.25, 0.5, 0.75, 1. */
export const RAMP_STOPS: readonly (readonly [number, number, number])[] = [
  [247, 251, 255],
  [198, 219, 239],
  [107, 174, 214],
  [33, 113, 181],
  [8, 48, 107],
];

/** 256 RGB entries: LUT[3k..3k+2] is the colour of t = k / 255. */
export const RAMP_LUT: Uint8Array = (() => {
  const lut = new Uint8Array(256 * 3);
  for (let k = 0; k < 256; k++) {
    const x = (k / 255) * (RAMP_STOPS.length - 1);
    const s = Math.min(RAMP_STOPS.length - 2, Math.floor(x));
    const f = x - s;
    for (let c = 0; c < 3; c++) lut[k * 3 + c] = Math.round(RAMP_STOPS[s]![c]! * (1 - f) + RAMP_STOPS[s + 1]![c]! * f);
  }
  return lut;
})();

/** Index into RAMP_LUT of probability p. */
export function rampIndex(p: number): number {
  const t = Math.sqrt(p > 0 ? (p < 1 ? p : 1) : 0);
  return Math.round(t * 255);
}

export function rampHex(p: number): string {
  const k = rampIndex(p) * 3;
  return `#${[RAMP_LUT[k]!, RAMP_LUT[k + 1]!, RAMP_LUT[k + 2]!].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** Tableau 10 and two more: heads beyond 12 cycle. */
export const HEAD_COLORS: readonly string[] = [
  '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948',
  '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#17becf', '#8c564b',
];

export function headColor(h: number): string {
  return HEAD_COLORS[h % HEAD_COLORS.length]!;
}
