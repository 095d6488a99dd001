/**
 * Added tokens (`added_tokens` of tokenizer.json, the special tokens of a vocab.txt tokenizer):
 * found in the text before the model sees it, leftmost-longest as `tokenizers`' AddedVocabulary
 * does (an Aho-Corasick automaton in LeftmostLongest mode over the raw text for `normalized: false`
 * tokens, over each normalised piece for `normalized: true` ones).
 */

export interface AddedToken {
  id: number;
  content: string;
  /** Only match when not touching a word character on either side. */
  singleWord: boolean;
  /** Swallow the whitespace on the left / right of the match. */
  lstrip: boolean;
  rstrip: boolean;
  /** Match against the normalised text instead of the raw text. */
  normalized: boolean;
  /** Skipped by `decode(ids, { skipSpecialTokens: true })`. */
  special: boolean;
}

/** A token the matcher looks for: an added token, or a `never_split` word. */
export interface MatchRule {
  id: number;
  content: string;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  /** `never_split` semantics: only a whole whitespace-delimited word matches. */
  wholeWhitespaceWord: boolean;
}

interface Node {
  next: Map<number, Node>;
  rule: number;
}

const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const SPACE = /\p{White_Space}/u;

function codePointBefore(s: string, i: number): string {
  const lo = s.charCodeAt(i - 1);
  if (lo >= 0xdc00 && lo <= 0xdfff && i >= 2) {
    const hi = s.charCodeAt(i - 2);
    if (hi >= 0xd800 && hi <= 0xdbff) return s.slice(i - 2, i);
  }
  return s.slice(i - 1, i);
}

function codePointAt(s: string, i: number): string {
  return String.fromCodePoint(s.codePointAt(i)!);
}

export class AddedMatcher {
  readonly rules: MatchRule[];
  private readonly root: Node = { next: new Map(), rule: -1 };
  private readonly first = new Uint8Array(0x10000);
  /** When every rule starts with the same code unit, `indexOf` finds candidates. */
  private readonly onlyFirst: string | null;

  constructor(rules: MatchRule[]) {
    this.rules = rules.filter((r) => r.content.length > 0);
    const firsts = new Set<number>();
    this.rules.forEach((r, idx) => {
      let node = this.root;
      for (let i = 0; i < r.content.length; i++) {
        const u = r.content.charCodeAt(i);
        let n = node.next.get(u);
        if (!n) {
          n = { next: new Map(), rule: -1 };
          node.next.set(u, n);
        }
        node = n;
      }
      // Two rules with the same content: the later one wins, as in the Rust map.
      node.rule = idx;
      this.first[r.content.charCodeAt(0)] = 1;
      firsts.add(r.content.charCodeAt(0));
    });
    this.onlyFirst = firsts.size === 1 ? String.fromCharCode([...firsts][0]!) : null;
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  private nextCandidate(s: string, from: number, end: number): number {
    if (this.onlyFirst !== null) {
      const i = s.indexOf(this.onlyFirst, from);
      return i < 0 || i >= end ? -1 : i;
    }
    const first = this.first;
    for (let i = from; i < end; i++) if (first[s.charCodeAt(i)] === 1) return i;
    return -1;
  }

  /** Whether s[from, end) holds a code unit some rule starts with (false: no match possible). */
  mayMatch(s: string, from: number, end: number): boolean {
    if (this.rules.length === 0) return false;
    return this.nextCandidate(s, from, end) >= 0;
  }

  /** Longest rule matching at `i` (and ending by `end`): [ruleIndex, matchEnd] or null. */
  private longestAt(s: string, i: number, end: number): [number, number] | null {
    let node: Node | undefined = this.root;
    let best: [number, number] | null = null;
    for (let j = i; j < end; j++) {
      node = node.next.get(s.charCodeAt(j));
      if (!node) break;
      if (node.rule >= 0) best = [node.rule, j + 1];
    }
    return best;
  }

  /**
   * Splits s[from, end) around matches: returns flattened triples (start, end, rule), rule = -1 for
   * the text between matches. Positions are code-unit indexes into `s`.
   */
  split(s: string, from: number, end: number): number[] {
    const out: number[] = [];
    let startOffset = from;
    let pos = from;
    while (pos < end) {
      const cand = this.nextCandidate(s, pos, end);
      if (cand < 0) break;
      const m = this.longestAt(s, cand, end);
      if (!m) {
        pos = cand + 1;
        continue;
      }
      const [ruleIdx, matchEnd] = m;
      pos = matchEnd;
      const rule = this.rules[ruleIdx]!;
      let start = cand;
      let stop = matchEnd;
      if (rule.singleWord) {
        const startOk = start === from || !WORD_CHAR.test(codePointBefore(s, start));
        const stopOk = stop === end || !WORD_CHAR.test(codePointAt(s, stop));
        if (!startOk || !stopOk) continue;
      }
      if (rule.wholeWhitespaceWord) {
        const startOk = start === from || SPACE.test(codePointBefore(s, start));
        const stopOk = stop === end || SPACE.test(codePointAt(s, stop));
        if (!startOk || !stopOk) continue;
      }
      if (rule.lstrip) {
        let k = start;
        while (k > from && SPACE.test(codePointBefore(s, k))) k -= codePointBefore(s, k).length;
        start = Math.max(k, startOffset);
      }
      if (rule.rstrip) {
        while (stop < end && SPACE.test(codePointAt(s, stop))) stop += codePointAt(s, stop).length;
      }
      if (startOffset < start) out.push(startOffset, start, -1);
      out.push(start, stop, ruleIdx);
      startOffset = stop;
    }
    if (startOffset < end) out.push(startOffset, end, -1);
    return out;
  }
}
