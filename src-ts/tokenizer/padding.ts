/**
 * Padding a batch (and its overflow windows) to a common length, as `tokenizers`' pad_encodings:
 * to the longest row or to a fixed length, rounded up to a multiple, on either side.
 */
import { TokenBuffer } from './buffer.js';
import type { PaddingParams } from './options.js';

/** The padded rows: new buffers (with an attention mask) when any row was short, else the inputs. */
export interface PaddedBatch {
  main: TokenBuffer;
  starts: Int32Array;
  ovf: TokenBuffer | null;
  ovfRows: [number, number][][];
}

/**
 * Pads rows [starts[i], starts[i+1]) of `main` and every overflow window (rows of `ovf`).
 * `defaultToken` names a pad id's token, to record the pad token's string when it differs.
 */
export function padBatch(
  main: TokenBuffer,
  starts: Int32Array,
  ovf: TokenBuffer | null,
  overflows: [number, number][][],
  pad: PaddingParams,
  defaultToken: (id: number) => string,
): PaddedBatch {
  const nRows = starts.length - 1;
  let target = 0;
  if (pad.strategy === 'max_length') target = pad.maxLength!;
  else for (let i = 0; i < nRows; i++) target = Math.max(target, starts[i + 1]! - starts[i]!);
  const m = pad.padToMultipleOf;
  if (m && m > 0 && target % m > 0) target += m - (target % m);
  const padToken = pad.padToken !== defaultToken(pad.padId) ? pad.padToken : null;
  const padRows = (src: TokenBuffer, rows: [number, number][], dst: TokenBuffer): [number, number][] =>
    rows.map(([s, n]) => {
      const at = dst.length;
      appendPadded(dst, src, s, n, target, pad, padToken);
      return [at, dst.length - at];
    });
  const rows: [number, number][] = [];
  for (let i = 0; i < nRows; i++) rows.push([starts[i]!, starts[i + 1]! - starts[i]!]);
  const needs = rows.some(([, n]) => n < target) || overflows.some((os) => os.some(([, n]) => n < target));
  if (!needs) return { main, starts, ovf, ovfRows: overflows };
  const mainOut = new TokenBuffer(Math.max(main.length, nRows * target) + 1);
  mainOut.attention = new Int32Array(mainOut.capacity);
  const padded = padRows(main, rows, mainOut);
  const mainStarts = new Int32Array(nRows + 1);
  for (let i = 0; i < padded.length; i++) mainStarts[i] = padded[i]![0];
  mainStarts[nRows] = mainOut.length;
  let ovfOut = ovf;
  let ovfRows = overflows;
  if (ovf) {
    const dst = new TokenBuffer(ovf.length + 16);
    dst.attention = new Int32Array(dst.capacity);
    ovfRows = overflows.map((os) => padRows(ovf, os, dst));
    ovfOut = dst;
  }
  return { main: mainOut, starts: mainStarts, ovf: ovfOut, ovfRows };
}

/** Appends src[s, s + n) to `dst` with pad tokens on `pad.direction` up to `target`. */
function appendPadded(dst: TokenBuffer, src: TokenBuffer, s: number, n: number, target: number, pad: PaddingParams, padToken: string | null): void {
  const padN = Math.max(0, target - n);
  const addPads = (): void => {
    if (!padN) return;
    dst.reserve(padN);
    const at = dst.length;
    const end = at + padN;
    dst.ids.fill(pad.padId, at, end);
    dst.typeIds.fill(pad.padTypeId, at, end);
    dst.starts.fill(0, at, end);
    dst.ends.fill(0, at, end);
    dst.words.fill(-1, at, end);
    dst.seqs.fill(-1, at, end);
    dst.attention!.fill(0, at, end);
    if (padToken !== null) for (let k = at; k < end; k++) dst.setOverride(k, padToken);
    dst.length = end;
  };
  if (pad.direction === 'left') addPads();
  dst.append(src, s, n);
  if (pad.direction === 'right') addPads();
}
