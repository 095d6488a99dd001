/** Evaluation metrics: accuracy, F1 (binary / macro / micro, entity-level for IOB tags), SQuAD exact match and F1. */

export function argmaxRows(data: ArrayLike<number>, width: number): number[] {
  const out: number[] = [];
  for (let r = 0; r * width < data.length; r++) {
    let best = 0;
    for (let c = 1; c < width; c++) if (data[r * width + c]! > data[r * width + best]!) best = c;
    out.push(best);
  }
  return out;
}

export function accuracy(predictions: readonly number[], labels: readonly number[]): number {
  let n = 0;
  let ok = 0;
  predictions.forEach((p, i) => {
    if (labels[i] === -100) return;
    n++;
    if (p === labels[i]) ok++;
  });
  return n ? ok / n : NaN;
}

/**
 * F1 as scikit-learn computes it: 'binary' (class 1 positive; the default for two classes),
 * 'macro' (mean over the classes that occur in labels or predictions) or 'micro'. -100 labels skipped.
 */
export function f1Score(predictions: readonly number[], labels: readonly number[], average?: 'binary' | 'macro' | 'micro'): number {
  const classes = new Set<number>();
  predictions.forEach((p, i) => {
    if (labels[i] === -100) return;
    classes.add(p);
    classes.add(labels[i]!);
  });
  const avg = average ?? ([...classes].every((c) => c === 0 || c === 1) ? 'binary' : 'macro');
  const counts = (c: number) => {
    let tp = 0, fp = 0, fn = 0;
    predictions.forEach((p, i) => {
      const l = labels[i];
      if (l === -100) return;
      if (p === c && l === c) tp++;
      else if (p === c) fp++;
      else if (l === c) fn++;
    });
    return { tp, fp, fn };
  };
  const f1 = ({ tp, fp, fn }: { tp: number; fp: number; fn: number }) => (tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn));
  if (avg === 'binary') return f1(counts(1));
  const per = [...classes].sort((a, b) => a - b).map(counts);
  if (avg === 'micro') return f1(per.reduce((a, b) => ({ tp: a.tp + b.tp, fp: a.fp + b.fp, fn: a.fn + b.fn }), { tp: 0, fp: 0, fn: 0 }));
  return per.length ? per.reduce((s, c) => s + f1(c), 0) / per.length : 0;
}

/** Entities (type, start, end) of an IOB1/IOB2 tag sequence, as seqeval's default mode reads them. */
export function entities(tags: readonly string[]): [string, number, number][] {
  const out: [string, number, number][] = [];
  let type: string | null = null;
  let start = 0;
  const close = (end: number) => {
    if (type !== null) out.push([type, start, end]);
    type = null;
  };
  tags.forEach((tag, i) => {
    const m = /^([BIES])-(.+)$/.exec(tag);
    if (!m) return close(i);
    const [, prefix, t] = m;
    if (prefix === 'B' || prefix === 'S' || type !== t) {
      close(i);
      type = t!;
      start = i;
    }
    if (prefix === 'E' || prefix === 'S') close(i + 1);
  });
  close(tags.length);
  return out;
}

/** Entity-level precision / recall / F1 over sentences of IOB tags (seqeval's micro average). */
export function entityF1(predicted: readonly (readonly string[])[], gold: readonly (readonly string[])[]): { precision: number; recall: number; f1: number } {
  let tp = 0, np = 0, ng = 0;
  predicted.forEach((p, s) => {
    const key = (e: [string, number, number]) => e.join(':');
    const pe = new Set(entities(p).map(key));
    const ge = entities(gold[s]!).map(key);
    np += pe.size;
    ng += ge.length;
    for (const e of ge) if (pe.has(e)) tp++;
  });
  const precision = np ? tp / np : 0;
  const recall = ng ? tp / ng : 0;
  return { precision, recall, f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0 };
}

/** SQuAD's answer normalization: lower case, no punctuation, no articles, single spaces. */
export function normalizeAnswer(s: string): string {
  return s
    .toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, '')
    .replace(/\b(a|an|the)\b/g, ' ')
    .split(/\s+/)
    .filter(Boolean)
    .join(' ');
}

export function exactMatch(prediction: string, answers: readonly string[]): number {
  if (answers.length === 0) return normalizeAnswer(prediction) === '' ? 1 : 0;
  return answers.some((a) => normalizeAnswer(a) === normalizeAnswer(prediction)) ? 1 : 0;
}

export function squadF1(prediction: string, answers: readonly string[]): number {
  const score = (gold: string) => {
    const p = normalizeAnswer(prediction).split(' ').filter(Boolean);
    const g = normalizeAnswer(gold).split(' ').filter(Boolean);
    if (p.length === 0 || g.length === 0) return p.length === g.length ? 1 : 0;
    const counts = new Map<string, number>();
    for (const w of g) counts.set(w, (counts.get(w) ?? 0) + 1);
    let same = 0;
    for (const w of p) {
      const c = counts.get(w) ?? 0;
      if (c > 0) {
        same++;
        counts.set(w, c - 1);
      }
    }
    if (same === 0) return 0;
    const precision = same / p.length;
    const recall = same / g.length;
    return (2 * precision * recall) / (precision + recall);
  };
  if (answers.length === 0) return score('');
  return Math.max(...answers.map(score));
}

/** The best span (start <= end < start + maxAnswerLength) among the tokens `allowed` says are context. */
export function bestSpan(start: ArrayLike<number>, end: ArrayLike<number>, allowed: (t: number) => boolean, maxAnswerLength = 30): [number, number] {
  let best: [number, number] = [0, 0];
  let bestScore = -Infinity;
  for (let s = 0; s < start.length; s++) {
    if (!allowed(s)) continue;
    for (let e = s; e < Math.min(end.length, s + maxAnswerLength); e++) {
      if (!allowed(e)) continue;
      const sc = start[s]! + end[e]!;
      if (sc > bestScore) {
        bestScore = sc;
        best = [s, e];
      }
    }
  }
  return best;
}
