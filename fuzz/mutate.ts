/**
 * The built-in engine's mutations (libFuzzer's repertoire, in small): bit flips, random and
 * "interesting" bytes and integers, inserted / erased / repeated ranges, dictionary words,
 * crossover with another corpus entry, deep nesting, and now and then a huge input (the input
 * repeated).
 */

/** A small deterministic generator (xorshift128+), so a run is reproduced from its seed. */
export class Rand {
  #a: bigint;
  #b: bigint;
  constructor(seed: number) {
    this.#a = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n;
    this.#b = (BigInt(seed) ^ 0x5deece66dn) * 0xbf58476d1ce4e5b9n + 7n;
    for (let i = 0; i < 8; i++) this.next32();
  }
  next32(): number {
    const M = (1n << 64n) - 1n;
    let s1 = this.#a;
    const s0 = this.#b;
    this.#a = s0;
    s1 ^= (s1 << 23n) & M;
    this.#b = s1 ^ s0 ^ (s1 >> 17n) ^ (s0 >> 26n);
    return Number(((this.#b + s0) & M) >> 32n);
  }
  below(n: number): number {
    return n <= 1 ? 0 : this.next32() % n;
  }
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, -1, 8, 16, 64, 1024, 1 << 20];
// JSON arrays and objects, pickle MARK ... TUPLE and EMPTY_LIST ... APPEND.
const NESTING: [string, string][] = [['[', ']'], ['{"a":', '}'], ['(', 't'], [']', 'a']];
const DIGITS = ['0', '-1', '1e308', '-0', '1.5', '9007199254740993', 'NaN', 'null', 'true', '""', '[]', '{}', '4294967296', '18446744073709551615'];

/** One mutated copy of `input` (never mutated in place), at most `maxLen` bytes. */
export function mutate(input: Buffer, corpus: readonly Buffer[], dict: readonly Buffer[], r: Rand, maxLen: number): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + r.below(4);
  for (let k = 0; k < rounds; k++) {
    const op = r.below(15);
    const at = r.below(b.length + 1);
    switch (op) {
      case 0: // flip a bit
        if (b.length) b[r.below(b.length)]! ^= 1 << r.below(8);
        break;
      case 1: // a random byte
        if (b.length) b[r.below(b.length)] = r.below(256);
        break;
      case 2: // insert random bytes
        b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + r.below(8) }, () => r.below(256))), b.subarray(at)]);
        break;
      case 3: // erase a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + r.below(Math.max(1, b.length >> 3))))]);
        break;
      case 4: // repeat a range
      {
        const len = 1 + r.below(Math.min(64, Math.max(1, b.length - at)));
        const piece = b.subarray(at, at + len);
        b = Buffer.concat([b.subarray(0, at), piece, piece, b.subarray(at)]);
        break;
      }
      case 5: // an interesting integer, 1 / 2 / 4 / 8 bytes little- or big-endian
      {
        const v = INTERESTING[r.below(INTERESTING.length)]!;
        const width = [1, 2, 4, 8][r.below(4)]!;
        const le = r.below(2) === 0;
        const w = Buffer.alloc(8);
        w.writeBigInt64LE(BigInt(v));
        const bytes = w.subarray(0, width);
        if (!le) bytes.reverse();
        if (b.length >= width) bytes.copy(b, r.below(b.length - width + 1));
        break;
      }
      case 6:
      case 7: // a dictionary word, inserted or overwriting
        if (dict.length) {
          const word = dict[r.below(dict.length)]!;
          b = op === 6 ? Buffer.concat([b.subarray(0, at), word, b.subarray(at)]) : Buffer.concat([b.subarray(0, at), word, b.subarray(Math.min(b.length, at + word.length))]);
        }
        break;
      case 8: // a number or JSON literal replacing a run of digits
      {
        const m = /[-0-9.eE]+|true|false|null/g;
        const text = b.toString('latin1');
        const hits = [...text.matchAll(m)];
        if (hits.length) {
          const h = hits[r.below(hits.length)]!;
          b = Buffer.concat([b.subarray(0, h.index), Buffer.from(DIGITS[r.below(DIGITS.length)]!), b.subarray(h.index! + h[0].length)]);
        }
        break;
      }
      case 9: // crossover: a piece of another entry
        if (corpus.length) {
          const other = corpus[r.below(corpus.length)]!;
          const from = r.below(other.length + 1);
          const piece = other.subarray(from, from + 1 + r.below(256));
          b = Buffer.concat([b.subarray(0, at), piece, b.subarray(at)]);
        }
        break;
      case 10: // truncate
        b = b.subarray(0, at);
        break;
      case 11: // swap two bytes
        if (b.length > 1) {
          const i = r.below(b.length);
          const j = r.below(b.length);
          [b[i], b[j]] = [b[j]!, b[i]!];
        }
        break;
      case 12: // UTF-16 surrogates and other special code units (little-endian), for the text targets
      {
        const units = [0xd800, 0xdbff, 0xdc00, 0xdfff, 0xfeff, 0xfffd, 0x0000, 0x200b, 0x0301, 0x3000, 0xff21, 0x00a0];
        const u = units[r.below(units.length)]!;
        b = Buffer.concat([b.subarray(0, at & ~1), Buffer.from([u & 0xff, u >> 8]), b.subarray(at & ~1)]);
        break;
      }
      case 13: // now and then a huge input: the input repeated up to maxLen
        if (r.below(64) === 0 && b.length) {
          const times = Math.max(1, Math.floor(maxLen / b.length));
          b = Buffer.concat(Array.from({ length: Math.min(times, 1 << 16) }, () => b));
        }
        break;
      case 14: // deep nesting: an opener thousands of times then its closer, as a JSON value or anywhere
      {
        const [open, close] = NESTING[r.below(NESTING.length)]!;
        const times = 100 + r.below(20000);
        const nested = Buffer.from(open.repeat(times) + close.repeat(times), 'latin1');
        const scalars = [...b.toString('latin1').matchAll(/"(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*|true|false|null/g)];
        if (open !== '(' && open !== ']' && scalars.length && r.below(2) === 0) {
          const h = scalars[r.below(scalars.length)]!;
          b = Buffer.concat([b.subarray(0, h.index), nested, b.subarray(h.index! + h[0].length)]);
        } else {
          b = Buffer.concat([b.subarray(0, at), nested, b.subarray(at)]);
        }
        break;
      }
    }
  }
  return b.length > maxLen ? b.subarray(0, maxLen) : b;
}

/** A libFuzzer dictionary: one `"word"` (or `name="word"`) a line, `\xNN`, `\\` and `\"` escapes. */
export function parseDictionary(text: string): Buffer[] {
  const out: Buffer[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(?:\w+\s*=\s*)?"(.*)"\s*$/.exec(line);
    if (!m) continue;
    const bytes: number[] = [];
    const s = m[1]!;
    for (let i = 0; i < s.length; i++) {
      if (s[i] === '\\' && s[i + 1] === 'x') {
        bytes.push(parseInt(s.slice(i + 2, i + 4), 16));
        i += 3;
      } else if (s[i] === '\\') {
        bytes.push(s.charCodeAt(++i));
      } else {
        bytes.push(...Buffer.from(s[i]!, 'utf8'));
      }
    }
    out.push(Buffer.from(bytes));
  }
  return out;
}
