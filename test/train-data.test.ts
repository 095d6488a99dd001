/**
 * Training data and metrics: the MLM collator's rule and statistics (transformers'
 * DataCollatorForLanguageModeling, shared/fixtures/training/collator_mlm.json), NER label
 * alignment, SQuAD answer mapping, CSV / JSONL records, NSP pairs, metrics and the loss chart.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { loadTokenizer } from '../src-ts/index.js';
import {
  Rng,
  accuracy,
  collate,
  createMlmCollator,
  createNspExamples,
  entityF1,
  exactMatch,
  f1Score,
  lossChartSvg,
  parseCsv,
  questionAnsweringExamples,
  shuffle,
  squadF1,
  textClassificationExamples,
  tokenClassificationExamples,
} from '../src-ts/training/index.js';
import { fixture } from './helpers/fixtures.js';
import { sharedPath, trainingDir } from './train-helpers.js';

const golden = JSON.parse(readFileSync(join(trainingDir(), 'collator_mlm.json'), 'utf8'));

test('MLM collator: the rule on the fixtures\' batches (never special or padding; labels = the original ids)', async (t) => {
  const tok = await loadTokenizer(sharedPath(golden.model_dir));
  const special = new Set<number>(golden.all_special_ids);
  const collator = createMlmCollator(tok, { seed: 42 });
  for (const ex of golden.examples.filter((e: any) => e.path === 'A_no_special_tokens_mask')) {
    const input: number[][] = ex.input_ids;
    const examples = input.map((row, b) => ({ inputIds: row.filter((_, j) => ex.attention_mask[b][j] === 1) }));
    const batch = collator(examples);
    t.deepEqual(batch.inputs.attentionMask, ex.attention_mask);
    const labels = batch.labels.labels as number[][];
    input.forEach((row, b) =>
      row.forEach((id, j) => {
        const l = labels[b]![j]!;
        if (special.has(id)) t.is(l, -100, 'special tokens and padding are never selected');
        if (l !== -100) t.is(l, id, 'a label is the original id');
        else t.is(batch.inputs.inputIds[b]![j], id, 'unselected tokens are unchanged');
      }),
    );
    // transformers' own output obeys the same rule (a sanity check of the reading of the fixture).
    ex.labels.forEach((r: number[], b: number) => r.forEach((l, j) => l !== -100 && t.is(l, input[b]![j])));
  }
});

test('MLM collator: 15% selected, then 80% [MASK] / 10% random / 10% unchanged; seeded', async (t) => {
  const tok = await loadTokenizer(sharedPath(golden.model_dir));
  const rng = new Rng(1);
  const examples = Array.from({ length: 1500 }, () => ({ inputIds: [101, ...Array.from({ length: 10 + rng.int(20) }, () => 200 + rng.int(700)), 102] }));
  const run = (seed: number) => {
    const c = createMlmCollator(tok, { seed });
    let eligible = 0, selected = 0, masked = 0, changed = 0, same = 0;
    for (let i = 0; i < examples.length; i += 50) {
      const b = c(examples.slice(i, i + 50));
      const orig = collate(examples.slice(i, i + 50)).inputs.inputIds;
      (b.labels.labels as number[][]).forEach((row, r) =>
        row.forEach((l, j) => {
          if (b.inputs.attentionMask[r]![j] && j > 0 && orig[r]![j] !== 102) eligible++;
          if (l === -100) return;
          selected++;
          const v = b.inputs.inputIds[r]![j];
          if (v === 103) masked++;
          else if (v === orig[r]![j]) same++;
          else changed++;
        }),
      );
    }
    return { eligible, selected, masked, changed, same, first: c(examples.slice(0, 4)).inputs.inputIds };
  };
  const a = run(5);
  t.log(`selected ${(a.selected / a.eligible).toFixed(4)} (fixture ${golden.statistics_path_A_global_rng.selected_fraction ?? 0.1506}), [MASK] ${(a.masked / a.selected).toFixed(4)}, random ${(a.changed / a.selected).toFixed(4)}, unchanged ${(a.same / a.selected).toFixed(4)}`);
  // ~31,000 eligible tokens: binomial sd ~0.002 for 15%; ~4,700 selected: sd ~0.006 for 80%, ~0.0045 for 10%.
  t.true(Math.abs(a.selected / a.eligible - 0.15) < 0.01);
  t.true(Math.abs(a.masked / a.selected - 0.8) < 0.03);
  t.true(Math.abs(a.changed / a.selected - 0.1) < 0.025);
  t.true(Math.abs(a.same / a.selected - 0.1) < 0.025);
  t.deepEqual(run(5).first, a.first, 'same seed, same masks');
  t.notDeepEqual(run(6).first, a.first);
});

test('NER: tags go to the first sub-token of each word, -100 elsewhere', async (t) => {
  const tok = await loadTokenizer(fixture('tiny-bert-tokcls'));
  const records = [{ tokens: ['Wolfgang', 'lives', 'in', 'Berlinxyz', '.'], tags: ['B-PER', 'O', 'O', 'B-LOC', 'O'] }];
  const { examples, labels } = tokenClassificationExamples(records, tok, {});
  const ex = examples[0]!;
  const enc = tok.encode('Wolfgang lives in Berlinxyz .');
  t.deepEqual(ex.inputIds, [...enc.ids]);
  const words = enc.wordIds;
  const seen = new Set<number>();
  const tagOf = ['B-PER', 'O', 'O', 'B-LOC', 'O'];
  ex.tokenLabels!.forEach((l, i) => {
    const w = words[i];
    if (w === null || w === undefined) return t.is(l, -100, '[CLS] / [SEP]');
    if (seen.has(w)) return t.is(l, -100, 'continuation sub-token');
    seen.add(w);
    t.is(labels.id2label[l], tagOf[w]);
  });
  t.true(enc.tokens.some((s) => s.startsWith('##')), 'the example has a word split in sub-tokens');
});

test('QA: SQuAD answers map to their first and last context tokens; cut-off answers to [CLS]', async (t) => {
  const tok = await loadTokenizer(fixture('tiny-bert-qa'));
  const context = 'My name is Wolfgang and I live in Berlin near the river.';
  const records = [
    { question: 'Where do I live?', context, answers: { text: ['Berlin'], answer_start: [context.indexOf('Berlin')] } },
    { question: 'Which river?', context, answers: { text: ['the river'], answer_start: [context.indexOf('the river')] } },
  ];
  const [ex] = questionAnsweringExamples(records, tok, { maxLength: 64 });
  const [, cut] = questionAnsweringExamples(records, tok, { maxLength: 16 });
  const enc = tok.encode('Where do I live?', context);
  const [s, e] = [ex!.startPosition!, ex!.endPosition!];
  t.is(context.slice(enc.offsets[s]![0], enc.offsets[e]![1]), 'Berlin');
  t.deepEqual([cut!.startPosition, cut!.endPosition], [0, 0], 'the answer does not fit in 16 tokens');
});

test('records: CSV with quotes, label maps, text pairs', async (t) => {
  const rows = parseCsv('text,label\n"a, ""quoted"" text",pos\nplain,neg\n');
  t.deepEqual(rows, [{ text: 'a, "quoted" text', label: 'pos' }, { text: 'plain', label: 'neg' }]);
  const tok = await loadTokenizer(fixture('tiny-bert-seqcls'));
  const { examples, labels } = textClassificationExamples([...rows, { text: 'x', text_pair: 'y', label: 'pos' }], tok);
  t.deepEqual(labels!.label2id, { neg: 0, pos: 1 });
  t.deepEqual(examples.map((e) => e.label), [1, 0, 1]);
  t.is(examples[2]!.tokenTypeIds!.at(-1), 1, 'the pair is segment 1');
});

test('NSP pairs: half consecutive, half random; [CLS] A [SEP] B [SEP] within maxLength', async (t) => {
  const tok = await loadTokenizer(fixture('tiny-bert-mlm'));
  const rng = new Rng(3);
  const words = ['the', 'government', 'black', 'free', 'states', 'together', 'such', 'slow'];
  const docs = Array.from({ length: 40 }, () => Array.from({ length: 6 }, () => Array.from({ length: 5 + rng.int(8) }, () => words[rng.int(words.length)]).join(' ')));
  const ex = createNspExamples(docs, tok, { maxLength: 24, seed: 1 });
  const random = ex.filter((e) => e.nextSentenceLabel === 1).length / ex.length;
  t.true(ex.length > 50);
  t.true(random > 0.35 && random < 0.7, `random share ${random}`);
  for (const e of ex) {
    t.true(e.inputIds.length <= 24);
    t.is(e.inputIds[0], 101);
    t.is(e.inputIds.filter((x) => x === 102).length, 2);
    t.is(e.tokenTypeIds!.length, e.inputIds.length);
  }
  t.deepEqual(createNspExamples(docs, tok, { maxLength: 24, seed: 1 }), ex, 'seeded');
});

test('metrics and shuffle', (t) => {
  t.is(accuracy([1, 0, 1, 1], [1, 1, 1, -100]), 2 / 3);
  t.is(f1Score([1, 0, 1, 0], [1, 1, 0, 0]), 0.5); // binary: tp 1, fp 1, fn 1
  t.true(Math.abs(f1Score([0, 1, 2, 2], [0, 1, 1, 2]) - (1 + 2 / 3 + 2 / 3) / 3) < 1e-12); // macro
  t.deepEqual(entityF1([['B-PER', 'I-PER', 'O', 'B-LOC']], [['B-PER', 'I-PER', 'O', 'B-ORG']]), { precision: 0.5, recall: 0.5, f1: 0.5 });
  t.is(exactMatch('The  Berlin!', ['berlin']), 1);
  t.true(Math.abs(squadF1('in Berlin city', ['Berlin']) - 0.5) < 1e-12);
  const s = shuffle([1, 2, 3, 4, 5, 6], new Rng(9));
  t.deepEqual(shuffle([1, 2, 3, 4, 5, 6], new Rng(9)), s);
  t.deepEqual([...s].sort(), [1, 2, 3, 4, 5, 6]);
  const svg = lossChartSvg([{ name: 'train', points: [[1, 2], [2, 1.5], [3, 1]], color: '#000' }]);
  t.regex(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  t.regex(svg, /<path d="M[\d.]+,[\d.]+L/);
});
