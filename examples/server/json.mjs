// Response bodies with many numbers, serialized by hand: numbers print as JSON.stringify prints
// them, without building an intermediate array of boxed numbers.

/** A response body already serialized. */
export class RawJson {
  constructor(text) {
    this.text = text;
  }
}

/** A Float32Array as JSON (NaN and infinities become null, as JSON.stringify writes them). */
export function vectorJson(v) {
  const text = Array.prototype.join.call(v, ',');
  return /[NI]/.test(text) ? JSON.stringify(Array.from(v)) : `[${text}]`;
}

/** Rows of `width` values from a flat [rows × width] array, as a JSON array of arrays. */
export function matrixJson(flat, width) {
  const rows = [];
  for (let r = 0; r < flat.length; r += width) rows.push(vectorJson(flat.subarray(r, r + width)));
  return `[${rows.join(',')}]`;
}

/** A Float32Array as base64 of its little-endian float32 bytes (OpenAI's `encoding_format: 'base64'`). */
export function vectorBase64(v) {
  const b = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) b.writeFloatLE(v[i], i * 4);
  return b.toString('base64');
}
