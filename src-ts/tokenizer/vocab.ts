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

  /** Dense child table of one node, for the roots. */
  denseChildren(node: number): Int32Array {
    const out = new Int32Array(0x10000).fill(EMPTY);
    if (node < 0) return out;
    for (let i = 0; i < this.keyNode.length; i++) {
      if (this.keyNode[i] === node) out[this.keyUnit[i]!] = this.value[i]!;
    }
    return out;
  }
}

export class Vocab {
  /** token → id, exactly as the vocabulary file gives it. */
  readonly map: Map<string, number>;
  /** id → token (undefined for ids the vocabulary does not use). */
  readonly byId: (string | undefined)[];
  readonly trie: Trie;
  /** Node reached by walking the continuation prefix from the root (-1 if no entry has it). */
  readonly contNode: number;
  readonly rootChildren: Int32Array;
  readonly contChildren: Int32Array;
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
    this.byId = new Array<string | undefined>(maxId + 1).fill(undefined);
    const trie = new Trie(Math.min(totalUnits, 1 << 22));
    for (const [tok, id] of map) {
      this.byId[id] = tok;
      if (tok.length === 0) continue;
      const node = trie.insertFrom(0, tok);
      trie.term[node] = id;
    }
    this.trie = trie;
    let cont = 0;
    for (let i = 0; i < continuingSubwordPrefix.length && cont >= 0; i++) {
      cont = trie.child(cont, continuingSubwordPrefix.charCodeAt(i));
    }
    this.contNode = cont;
    this.rootChildren = trie.denseChildren(0);
    this.contChildren = trie.denseChildren(cont);
  }

  get size(): number {
    return this.map.size;
  }
}
