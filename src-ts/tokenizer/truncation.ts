/**
 * Truncation windows exactly as `tokenizers`' `Encoding::truncate` and `truncate_encodings` cut
 * them: how many tokens of each sequence the main encoding keeps, and the overflow windows (with
 * `stride` tokens repeated from the previous window).
 */
import { InvalidInputError } from '../errors.js';
import type { Side, TruncationParams } from './options.js';

/** Limit on pair overflow windows (their number grows as the product of both sequences' windows). */
export const MAX_OVERFLOW_WINDOWS = 100_000;

/**
 * Splits one sequence's token count into windows: [start, stop) pairs, the first being what is
 * kept and the rest the overflow, exactly as `tokenizers`' `Encoding::truncate`.
 */
export function windows(len: number, maxLen: number, stride: number, dir: Side): [number, number][] {
  if (maxLen >= len) return [[0, len]];
  if (maxLen === 0) return [[0, 0], [0, len]];
  if (stride >= maxLen) {
    // tokenizers' message (it panics there).
    throw new InvalidInputError(
      `\`stride\` must be strictly less than \`max_len=${maxLen}\` (note that \`max_len\` may be shorter than the max ` +
        'length of the original model, as it subtracts the number of special characters',
    );
  }
  const offset = maxLen - stride;
  const out: [number, number][] = [];
  if (dir === 'right') {
    for (let start = 0; start < len; start += offset) {
      const stop = Math.min(start + maxLen, len);
      out.push([start, stop]);
      if (stop === len) break;
    }
  } else {
    for (let last = len - 1; last >= 0; last -= offset) {
      const stop = last + 1;
      const start = Math.max(0, stop - maxLen);
      out.push([start, stop]);
      if (start === 0) break;
    }
  }
  return out;
}


/**
 * The windows of each sequence for a `budget` of content tokens: the first window of each is kept,
 * the rest overflow. `bLen` is null for a single sequence.
 */
export function planWindows(
  aLen: number,
  bLen: number | null,
  budget: number,
  t: TruncationParams,
): { aw: [number, number][]; bw: [number, number][] | null } {
  const isPair = bLen !== null;
  const bl = bLen ?? 0;
  let aw: [number, number][];
  let bw: [number, number][] | null = null;
  if (budget === 0) {
    aw = windows(aLen, 0, t.stride, t.direction);
    if (isPair) bw = windows(bl, 0, t.stride, t.direction);
  } else if (t.strategy === 'longest_first') {
    if (isPair) {
      let n1 = aLen;
      let n2 = bl;
      const swap = n1 > n2;
      if (swap) [n1, n2] = [n2, n1];
      n2 = n1 > budget ? n1 : Math.max(n1, budget - n1);
      if (n1 + n2 > budget) {
        n1 = Math.floor(budget / 2);
        n2 = n1 + (budget % 2);
      }
      if (swap) [n1, n2] = [n2, n1];
      aw = windows(aLen, n1, t.stride, t.direction);
      bw = windows(bl, n2, t.stride, t.direction);
    } else {
      aw = windows(aLen, budget, t.stride, t.direction);
    }
  } else {
    const toRemove = aLen + bl - budget;
    if (t.strategy === 'only_second' && !isPair) throw new InvalidInputError('Truncation error: Second sequence not provided');
    const targetLen = t.strategy === 'only_first' ? aLen : bl;
    if (targetLen <= toRemove) {
      throw new InvalidInputError('Truncation error: Sequence to truncate too short to respect the provided max_length');
    }
    if (t.strategy === 'only_first') {
      aw = windows(aLen, aLen - toRemove, t.stride, t.direction);
      if (isPair) bw = [[0, bl]];
    } else {
      aw = [[0, aLen]];
      bw = windows(bl, bl - toRemove, t.stride, t.direction);
    }
  }
  if (isPair && !bw) bw = [[0, bl]];
  if (bw && aw.length * bw.length > MAX_OVERFLOW_WINDOWS) {
    throw new InvalidInputError(
      `truncating this pair would make ${aw.length * bw.length - 1} overflow windows (every window of the first ` +
        'sequence with every window of the second); use only_first / only_second or a larger maxLength',
    );
  }
  return { aw, bw };
}
