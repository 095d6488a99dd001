/**
 * WordPiece vocabulary: token ⇄ id, plus a trie over UTF-16 code units so the greedy longest-match
 * search walks the word once per piece without building a single substring.
 *
 * The trie's edges live in one open-addressing hash table keyed by (node, code unit); the children
 * of the two roots (word start, and the `##` continuation node) are also kept in dense 64K tables,
 * since every piece starts there.
 */

const EMPTY = -1;

export class Trie {
  /** Terminal id of each node, or -1. */
  term: Int32Array;
  nodes = 1;
  private keyNode: Int32Array;
  private keyUnit: Int32Array;
  private value: Int32Array;
  private mask: number;
  private used = 0;

  constructor(expectedEdges = 1024) {
    let cap = 1024;
    while (cap < expectedEdges * 2) cap *= 2;
    this.keyNode = new Int32Array(cap).fill(EMPTY);
    this.keyUnit = new Int32Array(cap);
    this.value = new Int32Array(cap);
    this.mask = cap - 1;
    this.term = new Int32Array(Math.max(16, expectedEdges + 1)).fill(EMPTY);
  }

  private static hash(node: number, unit: number): number {
    return (Math.imul(node, 0x9e3779b1) ^ Math.imul(unit + 0x7f4a7c15, 0x85ebca77)) >>> 0;
  }

  /** The child of `node` along `unit`, or -1. */
  child(node: number, unit: number): number {
    const mask = this.mask;
    let h = Trie.hash(node, unit) & mask;
    const kn = this.keyNode;
    for (;;) {
      const k = kn[h]!;
      if (k === node && this.keyUnit[h] === unit) return this.value[h]!;
      if (k === EMPTY) return -1;
      h = (h + 1) & mask;
    }
  }

  private grow(): void {
    const oldNode = this.keyNode;
    const oldUnit = this.keyUnit;
    const oldValue = this.value;
    const cap = oldNode.length * 2;
    this.keyNode = new Int32Array(cap).fill(EMPTY);
    this.keyUnit = new Int32Array(cap);
    this.value = new Int32Array(cap);
    this.mask = cap - 1;
    for (let i = 0; i < oldNode.length; i++) {
      if (oldNode[i] !== EMPTY) this.put(oldNode[i]!, oldUnit[i]!, oldValue[i]!);
    }
  }

  private put(node: number, unit: number, child: number): void {
    let h = Trie.hash(node, unit) & this.mask;
    while (this.keyNode[h] !== EMPTY) h = (h + 1) & this.mask;
    this.keyNode[h] = node;
    this.keyUnit[h] = unit;
    this.value[h] = child;
  }

  /** Walks `s` from `node`, creating nodes as needed; returns the final node. */
  insertFrom(node: number, s: string): number {
    for (let i = 0; i < s.length; i++) {
      const u = s.charCodeAt(i);
      let next = this.child(node, u);
      if (next < 0) {
        next = this.nodes++;
        if (next >= this.term.length) {
          const t = new Int32Array(this.term.length * 2).fill(EMPTY);
          t.set(this.term);
          this.term = t;
        }
        if ((this.used + 1) * 2 > this.keyNode.length) this.grow();
        this.put(node, u, next);
        this.used++;
      }
      node = next;
    }
    return node;
  }

  /** Every edge as flat (parent, unit, child) triples. */
  edges(): Int32Array {
    const out = new Int32Array(this.used * 3);
    let k = 0;
    for (let i = 0; i < this.keyNode.length; i++) {
      if (this.keyNode[i] === EMPTY) continue;
      out[k++] = this.keyNode[i]!;
      out[k++] = this.keyUnit[i]!;
      out[k++] = this.value[i]!;
    }
    return out;
  }

}


/**
 * The same trie as a double array: the child of slot `s` along code unit `u` is `t = base[s] +
 * alpha[u]` when `check[t] === s`. Three array reads per step, no hashing. Code units are renumbered
 * by frequency in the vocabulary (`alpha`, 0 for units no entry contains), which keeps it compact.
 */
export class DoubleArray {
  readonly alpha: Int32Array;
  readonly base: Int32Array;
  readonly check: Int32Array;
  /** Vocabulary id ending at each slot, or -1. */
  readonly term: Int32Array;

  constructor(trie: Trie) {
    const edges = trie.edges();
    const nEdges = edges.length / 3;
    const nodes = trie.nodes;
    // Alphabet by descending frequency.
    const freq = new Map<number, number>();
    for (let e = 0; e < nEdges; e++) freq.set(edges[3 * e + 1]!, (freq.get(edges[3 * e + 1]!) ?? 0) + 1);
    const units = [...freq.keys()].sort((a, b) => freq.get(b)! - freq.get(a)! || a - b);
    const alpha = new Int32Array(0x10000);
    units.forEach((u, i) => (alpha[u] = i + 1));
    const A = units.length + 1;
    // Children of each node, sorted by code (CSR).
    const count = new Int32Array(nodes + 1);
    for (let e = 0; e < nEdges; e++) count[edges[3 * e]! + 1]!++;
    for (let n = 0; n < nodes; n++) count[n + 1]! += count[n]!;
    const childCode = new Int32Array(nEdges);
    const childNode = new Int32Array(nEdges);
    const fillPos = count.slice(0, nodes);
    for (let e = 0; e < nEdges; e++) {
      const p = edges[3 * e]!;
      const at = fillPos[p]!++;
      childCode[at] = alpha[edges[3 * e + 1]!]!;
      childNode[at] = edges[3 * e + 2]!;
    }
    for (let n = 0; n < nodes; n++) {
      // insertion sort of each (small) child list by code
      for (let i = count[n]! + 1; i < count[n + 1]!; i++) {
        const c = childCode[i]!;
        const d = childNode[i]!;
        let j = i - 1;
        while (j >= count[n]! && childCode[j]! > c) {
          childCode[j + 1] = childCode[j]!;
          childNode[j + 1] = childNode[j]!;
          j--;
        }
        childCode[j + 1] = c;
        childNode[j + 1] = d;
      }
    }
    let cap = Math.max(1024, nodes * 2 + A);
    let base = new Int32Array(cap);
    let check = new Int32Array(cap).fill(-1);
    let term = new Int32Array(cap).fill(-1);
    // Free slots as a doubly linked list (slot 0 is the root), so placing a node only looks at
    // slots that are actually free.
    let next = new Int32Array(cap);
    let prev = new Int32Array(cap);
    for (let i = 0; i < cap; i++) {
      next[i] = i + 1;
      prev[i] = i - 1;
    }
    let freeHead = 1;
    const grow = (need: number): void => {
      if (need < cap) return;
      let c = cap;
      while (c <= need) c *= 2;
      const b = new Int32Array(c);
      b.set(base);
      const k = new Int32Array(c).fill(-1);
      k.set(check);
      const t = new Int32Array(c).fill(-1);
      t.set(term);
      const nx = new Int32Array(c);
      nx.set(next);
      const pv = new Int32Array(c);
      pv.set(prev);
      // The old list ends at `cap` (next of the last free slot); extend it with the new slots.
      for (let i = cap; i < c; i++) {
        nx[i] = i + 1;
        pv[i] = i - 1;
      }
      base = b;
      check = k;
      term = t;
      next = nx;
      prev = pv;
      cap = c;
    };
    const take = (i: number): void => {
      const p = prev[i]!;
      const n = next[i]!;
      if (p >= 0) next[p] = n;
      if (i === freeHead) freeHead = n;
      if (n < cap) prev[n] = p;
    };
    check[0] = -2; // the root has no parent
    prev[1] = -1;
    const slotOf = new Int32Array(nodes).fill(-1);
    slotOf[0] = 0;
    term[0] = trie.term[0]!;
    let maxUsed = 0;
    const queue = new Int32Array(nodes);
    let qh = 0;
    let qt = 0;
    queue[qt++] = 0;
    while (qh < qt) {
      const n = queue[qh++]!;
      const s = slotOf[n]!;
      const from = count[n]!;
      const to = count[n + 1]!;
      if (from === to) continue;
      const c0 = childCode[from]!;
      const cLast = childCode[to - 1]!;
      let b = -1;
      // Try each free slot as the first child's slot.
      for (let f = freeHead; ; f = next[f]!) {
        grow(f + cLast + 1);
        const cand = f - c0;
        if (cand < 1) continue;
        let ok = true;
        for (let i = from; i < to; i++) {
          if (check[cand + childCode[i]!] !== -1) {
            ok = false;
            break;
          }
        }
        if (ok) {
          b = cand;
          break;
        }
      }
      base[s] = b;
      for (let i = from; i < to; i++) {
        const t = b + childCode[i]!;
        check[t] = s;
        take(t);
        const child = childNode[i]!;
        slotOf[child] = t;
        term[t] = trie.term[child]!;
        if (t > maxUsed) maxUsed = t;
        queue[qt++] = child;
      }
    }
    // Room for base + any code past the last used slot, so lookups never read out of bounds.
    let maxBase = 0;
    for (let i = 0; i <= maxUsed; i++) if (base[i]! > maxBase) maxBase = base[i]!;
    const size = Math.max(maxUsed, maxBase) + A + 1;
    grow(size);
    this.alpha = alpha;
    this.base = base.slice(0, size);
    this.check = check.slice(0, size);
    this.term = term.slice(0, size);
    this.slotOf = slotOf;
  }

  /** @internal trie node → slot (for locating the continuation node). */
  readonly slotOf: Int32Array;
}

export class Vocab {
  /** token → id, exactly as the vocabulary file gives it. */
  readonly map: Map<string, number>;
  /** id → token (undefined for ids the vocabulary does not use). */
  readonly byId: (string | undefined)[];
  readonly da: DoubleArray;
  /** Slot reached by walking the continuation prefix from the root (-1 if no entry has it). */
  readonly contSlot: number;
  /** Whether some entry ends in a lone high surrogate (only then must matches be checked for it). */
  readonly endsInHighSurrogate: boolean;

  constructor(map: Map<string, number>, continuingSubwordPrefix: string) {
    this.map = map;
    let maxId = -1;
    let totalUnits = 0;
    let highEnd = false;
    for (const [tok, id] of map) {
      if (id > maxId) maxId = id;
      totalUnits += tok.length;
      const last = tok.charCodeAt(tok.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) highEnd = true;
    }
    this.endsInHighSurrogate = highEnd;
    // Dense ids (the norm) get a packed array; absurdly sparse ones (a hostile file naming id
    // 2^31 - 1) a holey one, rather than a 2^31-slot allocation.
    this.byId = maxId < 4 * map.size + 1024 ? new Array<string | undefined>(maxId + 1).fill(undefined) : [];
    const trie = new Trie(Math.min(totalUnits, 1 << 22));
    for (const [tok, id] of map) {
      this.byId[id] = tok;
      if (tok.length === 0) continue;
      const node = trie.insertFrom(0, tok);
      trie.term[node] = id;
    }
    let cont = 0;
    for (let i = 0; i < continuingSubwordPrefix.length && cont >= 0; i++) {
      cont = trie.child(cont, continuingSubwordPrefix.charCodeAt(i));
    }
    this.da = new DoubleArray(trie);
    this.contSlot = cont < 0 ? -1 : this.da.slotOf[cont]!;
  }

  get size(): number {
    return this.map.size;
  }
}
