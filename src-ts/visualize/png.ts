/**
 * A minimal PNG writer (8-bit RGB, no interlace, filter 0 on every row, zlib from node:zlib) and
 * the attention heatmaps as pixels. PNGs carry no text here: labels are in the SVG and the page.
 */
import { InvalidInputError } from '../errors.js';
import type { AttentionData } from './attention.js';
import { RAMP_LUT, rampIndex } from './colors.js';

// node:zlib is loaded on first use, so that importing the package does not pay for it.
const zlib = (): typeof import('node:zlib') => process.getBuiltinModule('node:zlib');

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(zlib().crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Encodes `rgb` (width * height * 3 bytes, rows top to bottom) as a PNG file. */
export function encodePng(width: number, height: number, rgb: Uint8Array): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new InvalidInputError(`a PNG needs a positive integer size, got ${width} x ${height}`);
  }
  if (rgb.length !== width * height * 3) throw new InvalidInputError(`expected ${width * height * 3} RGB bytes, got ${rgb.length}`);
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter type None
    raw.set(rgb.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', zlib().deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** An RGB canvas filled with one colour. */
export class Raster {
  readonly width: number;
  readonly height: number;
  readonly rgb: Uint8Array;
  constructor(width: number, height: number, fill: readonly [number, number, number] = [255, 255, 255]) {
    this.width = width;
    this.height = height;
    this.rgb = new Uint8Array(width * height * 3);
    for (let k = 0; k < width * height; k++) this.rgb.set(fill, k * 3);
  }

  /** Draws head `head` of layer `layer` with `cell` pixels per token at (x, y). */
  heatmap(data: AttentionData, layer: number, head: number, x: number, y: number, cell: number): void {
    const L = data.length;
    const a = data.attentions[layer]!;
    for (let i = 0; i < L; i++) {
      for (let j = 0; j < L; j++) {
        const k = rampIndex(a[(head * L + i) * L + j]!) * 3;
        for (let dy = 0; dy < cell; dy++) {
          let o = ((y + i * cell + dy) * this.width + x + j * cell) * 3;
          for (let dx = 0; dx < cell; dx++, o += 3) {
            this.rgb[o] = RAMP_LUT[k]!;
            this.rgb[o + 1] = RAMP_LUT[k + 1]!;
            this.rgb[o + 2] = RAMP_LUT[k + 2]!;
          }
        }
      }
    }
  }

  png(): Uint8Array {
    return encodePng(this.width, this.height, this.rgb);
  }
}

/** Pixels per token so that an L x L map is about `target` pixels wide (at least 1). */
export function cellSize(L: number, target: number): number {
  return Math.max(1, Math.floor(target / L));
}

export interface GridGeometry {
  cell: number;
  size: number;
  gap: number;
  width: number;
  height: number;
}

/** Layout of the layers x heads grid: one row per layer, one column per head. */
export function gridGeometry(data: AttentionData, target = 96): GridGeometry {
  const cell = cellSize(data.length, target);
  const size = cell * data.length;
  const gap = Math.max(2, Math.round(size / 16));
  return { cell, size, gap, width: data.heads * size + (data.heads + 1) * gap, height: data.layers * size + (data.layers + 1) * gap };
}

/** The layers x heads grid as a PNG (rows: layers 0.., columns: heads 0..). */
export function attentionGridPng(data: AttentionData): Uint8Array {
  const g = gridGeometry(data);
  const r = new Raster(g.width, g.height, [255, 255, 255]);
  for (let l = 0; l < data.layers; l++) {
    for (let h = 0; h < data.heads; h++) r.heatmap(data, l, h, g.gap + h * (g.size + g.gap), g.gap + l * (g.size + g.gap), g.cell);
  }
  return r.png();
}

/** One head's L x L map as a PNG, `cell` pixels per token (default: about 512 pixels wide). */
export function attentionHeadPng(data: AttentionData, layer: number, head: number, cell = cellSize(data.length, 512)): Uint8Array {
  const size = cell * data.length;
  const r = new Raster(size, size);
  r.heatmap(data, layer, head, 0, 0, cell);
  return r.png();
}
