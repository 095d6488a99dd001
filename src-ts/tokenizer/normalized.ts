/**
 * A normalised string with alignments, as `tokenizers`' NormalizedString: the text after each step
 * and, per UTF-16 unit, the [start, end) span (UTF-16, in the caller's string) of the original
 * character it came from. Tokens take (start of their first unit, end of their last unit).
 *
 * `transform` follows NormalizedString::transform_range exactly: each output character either
 * replaces the next input character (change ≤ 0, taking its span, and with change -n also removing
 * the n characters after it) or is inserted (change > 0, taking the span of the input character
 * before the cursor, or [0, 0] at the very start). The normalisers and pre-tokenizers express their
 * edits this way, so the offsets agree with Rust's in the odd cases too (Precompiled removals,
 * Metaspace prepends, ByteLevel bytes).
 */

export class NStr {
  constructor(
    /** The normalised text. */
    readonly s: string,
    /** Original span of each UTF-16 unit. */
    readonly st: number[],
    readonly en: number[],
  ) {}

  get length(): number {
    return this.s.length;
  }

  /** text[from, to) unchanged, each unit aligned to its own character. */
  static fromText(text: string, from: number, to: number): NStr {
    const n = to - from;
    const st = new Array<number>(n);
    const en = new Array<number>(n);
    for (let i = from; i < to; i++) {
      const u = text.charCodeAt(i);
      const k = i - from;
      if (u >= 0xd800 && u <= 0xdbff && i + 1 < to) {
        const v = text.charCodeAt(i + 1);
        if (v >= 0xdc00 && v <= 0xdfff) {
          st[k] = i;
          en[k] = i + 2;
          st[k + 1] = i;
          en[k + 1] = i + 2;
          i++;
          continue;
        }
      }
      st[k] = i;
      en[k] = i + 1;
    }
    return new NStr(text.slice(from, to), st, en);
  }

  /** Units [from, to) as their own string (a pre-tokenizer split). */
  slice(from: number, to: number): NStr {
    return new NStr(this.s.slice(from, to), this.st.slice(from, to), this.en.slice(from, to));
  }

  /** Keeps the characters `keep` accepts, each with its own span (NormalizedString::filter). */
  filter(keep: (cp: number) => boolean): NStr {
    const s = this.s;
    let out = '';
    const st: number[] = [];
    const en: number[] = [];
    let changed = false;
    for (let i = 0; i < s.length; ) {
      const cp = s.codePointAt(i)!;
      const len = cp > 0xffff ? 2 : 1;
      if (keep(cp)) {
        for (let k = 0; k < len; k++) {
          st.push(this.st[i + k]!);
          en.push(this.en[i + k]!);
        }
        out += s.slice(i, i + len);
      } else changed = true;
      i += len;
    }
    return changed ? new NStr(out, st, en) : this;
  }

  /** Replaces every match of `re` (global) by `content`, as NormalizedString::replace. */
  replace(re: RegExp | string, content: string): NStr {
    const s = this.s;
    let out = '';
    const st: number[] = [];
    const en: number[] = [];
    let last = 0;
    let any = false;
    const put = (a: number, b: number): void => {
      out += s.slice(a, b);
      for (let k = a; k < b; k++) {
        st.push(this.st[k]!);
        en.push(this.en[k]!);
      }
    };
    const emit = (a: number, b: number): void => {
      any = true;
      put(last, a);
      // Inserted characters share the span of the unit before the cursor (the match's last).
      const sa = b < 1 ? 0 : this.st[b - 1]!;
      const ea = b < 1 ? 0 : this.en[b - 1]!;
      out += content;
      for (let k = 0; k < content.length; k++) {
        st.push(sa);
        en.push(ea);
      }
      last = b;
    };
    if (typeof re === 'string') {
      if (re.length === 0) return this;
      for (let i = s.indexOf(re); i >= 0; i = s.indexOf(re, i + re.length)) emit(i, i + re.length);
    } else {
      re.lastIndex = 0;
      for (let m = re.exec(s); m; m = re.exec(s)) {
        if (m[0].length === 0) {
          // Empty matches insert content without consuming anything; step over one character.
          emit(m.index, m.index);
          re.lastIndex = m.index + (s.codePointAt(m.index)! > 0xffff ? 2 : 1);
          if (m.index >= s.length) break;
          continue;
        }
        emit(m.index, m.index + m[0].length);
      }
    }
    if (!any) return this;
    put(last, s.length);
    return new NStr(out, st, en);
  }

  /** Puts `prefix` before the first character, sharing its span (NormalizedString::prepend). */
  prepend(prefix: string): NStr {
    if (this.s.length === 0) return this;
    const st = new Array<number>(prefix.length).fill(this.st[0]!);
    const en = new Array<number>(prefix.length).fill(this.en[0]!);
    return new NStr(prefix + this.s, st.concat(this.st), en.concat(this.en));
  }
}

/**
 * Applies (code point, change) edits to the whole string; `initialSkip` characters are dropped
 * first (transform_range's initial_offset).
 */
export function transform(ns: NStr, cps: readonly number[], changes: readonly number[], initialSkip = 0): NStr {
  const s = ns.s;
  let pos = 0;
  const adv = (): void => {
    if (pos < s.length) pos += s.codePointAt(pos)! > 0xffff ? 2 : 1;
  };
  for (let k = 0; k < initialSkip; k++) adv();
  let out = '';
  const st: number[] = [];
  const en: number[] = [];
  for (let k = 0; k < cps.length; k++) {
    const c = cps[k]!;
    const ch = changes[k]!;
    let a: number;
    let b: number;
    if (ch > 0) {
      a = pos < 1 ? 0 : ns.st[pos - 1]!;
      b = pos < 1 ? 0 : ns.en[pos - 1]!;
    } else {
      const p = Math.min(pos, s.length - 1);
      a = p < 0 ? 0 : ns.st[p]!;
      b = p < 0 ? 0 : ns.en[p]!;
      adv();
      for (let r = 0; r < -ch; r++) adv();
    }
    const str = String.fromCodePoint(c);
    out += str;
    st.push(a);
    en.push(b);
    if (str.length === 2) {
      st.push(a);
      en.push(b);
    }
  }
  return new NStr(out, st, en);
}

/** Code points of a string. */
export function codePoints(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i)!;
    out.push(cp);
    i += cp > 0xffff ? 2 : 1;
  }
  return out;
}

/**
 * Edits that turn `oldCount` characters into `repl` (the Precompiled normaliser's `replace`):
 * every new character replaces one old one; extra new ones are insertions; missing ones are
 * removed by the last edit so far (which may belong to an earlier character, as in Rust).
 */
export function pushReplacement(cps: number[], changes: number[], oldCount: number, repl: readonly number[]): void {
  for (const c of repl) {
    cps.push(c);
    changes.push(0);
  }
  const diff = repl.length - oldCount;
  if (diff > 0) {
    for (let k = 0; k < diff; k++) changes[changes.length - 1 - k] = 1;
  } else if (diff < 0 && changes.length > 0) {
    changes[changes.length - 1]! += diff;
  }
}
