/**
 * Live parity with Hugging Face's own Rust `tokenizers` (the npm binding, a devDependency) on a
 * seeded adversarial corpus: every script, combining marks old and new, emoji ZWJ sequences, flags,
 * unpaired surrogates, control and format characters, unassigned and private-use code points,
 * 100+ character words, literal special tokens. Several normaliser configurations, singles and
 * pairs; ids, tokens, UTF-16 offsets, word / sequence / type ids, special masks and decoding.
 *
 * Truncation is not compared here: tokenizers 0.23.x has a truncation regression
 * (huggingface/tokenizers#2091); the truncation and overflow goldens (from 0.22.2) cover it.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { tokenizerFromJSON, type Tokenizer } from '../src-ts/tokenizer/index.js';
import { cpToUtf16, makeCorpus } from './helpers/corpus.js';
import { bertBaseUncasedDir } from './helpers/fixtures.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const hf = require('tokenizers') as typeof import('tokenizers');

const tokenizerJson = readFileSync(join(bertBaseUncasedDir, 'tokenizer.json'), 'utf8');

interface Config {
  name: string;
  normalizer: Record<string, unknown>;
}

const CONFIGS: Config[] = [
  { name: 'uncased (tokenizer.json as shipped)', normalizer: {} },
  { name: 'cased, no accent stripping', normalizer: { lowercase: false, strip_accents: null } },
  { name: 'lowercase, keep accents', normalizer: { lowercase: true, strip_accents: false } },
  { name: 'no CJK split', normalizer: { handle_chinese_chars: false } },
  { name: 'accent stripping without lowercasing', normalizer: { lowercase: false, strip_accents: true } },
  { name: 'no clean_text', normalizer: { clean_text: false } },
];

function variant(c: Config): string {
  const j = JSON.parse(tokenizerJson) as Record<string, Record<string, unknown>>;
  j['normalizer'] = { ...j['normalizer'], ...c.normalizer };
  j['truncation'] = null as unknown as Record<string, unknown>;
  j['padding'] = null as unknown as Record<string, unknown>;
  return JSON.stringify(j);
}

const corpus = makeCorpus(20240611, 2500);

for (const config of CONFIGS) {
  test(`matches tokenizers (Rust) on ${corpus.length} generated items: ${config.name}`, async (t) => {
    const json = variant(config);
    const ours: Tokenizer = tokenizerFromJSON(json);
    const theirs = hf.Tokenizer.fromString(json);
    const encs = await Promise.all(corpus.map((it) => theirs.encode(it.text, it.pair ?? null)));
    let mismatches = 0;
    const report: string[] = [];
    for (let i = 0; i < corpus.length; i++) {
      const it = corpus[i]!;
      const h = encs[i]!;
      const e = ours.encode(it.text, it.pair);
      const seq = h.getSequenceIds();
      const mA = cpToUtf16(it.text);
      const mB = cpToUtf16(it.pair ?? '');
      const hOffsets = h.getOffsets().map(([s, en], k) => {
        if (seq[k] === null || seq[k] === undefined) return [s, en];
        const m = seq[k] === 1 ? mB : mA;
        return [m[s!]!, m[en!]!];
      });
      const got = [Array.from(e.ids), e.tokens, Array.from(e.typeIds), e.offsets, e.wordIds, e.sequenceIds, Array.from(e.specialTokensMask), Array.from(e.attentionMask)];
      const exp = [h.getIds(), h.getTokens(), h.getTypeIds(), hOffsets, h.getWordIds().map((x) => x ?? null), seq.map((x) => x ?? null), h.getSpecialTokensMask(), h.getAttentionMask()];
      if (JSON.stringify(got) !== JSON.stringify(exp)) {
        mismatches++;
        if (report.length < 5) report.push(`${JSON.stringify(it)}\n ours ${JSON.stringify(got).slice(0, 600)}\n hf   ${JSON.stringify(exp).slice(0, 600)}`);
      }
    }
    t.is(mismatches, 0, report.join('\n'));
    // Decoding the ids back, with and without special tokens.
    let decodeMismatches = 0;
    for (let i = 0; i < corpus.length; i += 5) {
      const ids = encs[i]!.getIds();
      for (const skip of [true, false]) {
        const exp = await theirs.decode(ids, skip);
        const got = ours.decode(ids, { skipSpecialTokens: skip, cleanUpTokenizationSpaces: false });
        if (exp !== got) decodeMismatches++;
      }
    }
    t.is(decodeMismatches, 0);
  });
}

test('the fused scanner and the step-by-step reference pipeline agree on the corpus, every configuration', (t) => {
  for (const config of CONFIGS) {
    const fast = tokenizerFromJSON(variant(config));
    const ref = tokenizerFromJSON(variant(config));
    ref._useReferencePipeline(true);
    for (const it of corpus) {
      const a = fast.encode(it.text, it.pair);
      const b = ref.encode(it.text, it.pair);
      if (JSON.stringify([Array.from(a.ids), a.offsets, a.wordIds]) !== JSON.stringify([Array.from(b.ids), b.offsets, b.wordIds])) {
        t.fail(`${config.name}: ${JSON.stringify(it)}`);
        return;
      }
    }
  }
  t.pass();
});

test('batch encoding equals item-by-item encoding against tokenizers encodeBatch', async (t) => {
  const ours = tokenizerFromJSON(variant(CONFIGS[0]!));
  const theirs = hf.Tokenizer.fromString(variant(CONFIGS[0]!));
  const singles = corpus.filter((c) => c.pair === undefined).map((c) => c.text);
  const theirsBatch = await theirs.encodeBatch(singles);
  const batch = ours.encodeBatch(singles);
  t.is(batch.length, singles.length);
  for (let i = 0; i < singles.length; i++) {
    t.deepEqual(Array.from(batch.inputIds[i]!), theirsBatch[i]!.getIds());
  }
});

// Added tokens of every kind, other post-processors, stored padding: tokenizer.json variants.
const EXTRA_ADDED = [
  { id: 30522, content: 'foobar', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
  { id: 30523, content: '<tag>', single_word: false, lstrip: true, rstrip: true, normalized: false, special: true },
  { id: 30524, content: 'qq', single_word: true, lstrip: false, rstrip: false, normalized: false, special: false },
  { id: 30525, content: 'Hello World', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
  { id: 2003, content: 'is', single_word: true, lstrip: false, rstrip: false, normalized: true, special: false },
];
const PAD = { strategy: 'BatchLongest', direction: 'Right', pad_to_multiple_of: null, pad_id: 0, pad_type_id: 0, pad_token: '[PAD]' };
const VARIANTS: [string, Record<string, unknown>][] = [
  ['added tokens: normalized, lstrip/rstrip, single_word', { added_tokens: [...(JSON.parse(tokenizerJson).added_tokens as object[]), ...EXTRA_ADDED] }],
  ['BertProcessing', { post_processor: { type: 'BertProcessing', sep: ['[SEP]', 102], cls: ['[CLS]', 101] } }],
  [
    'custom template (pair order B A, multi-id special, type ids)',
    {
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 2 } }],
        pair: [
          { SpecialToken: { id: '[CLS]', type_id: 1 } },
          { Sequence: { id: 'B', type_id: 0 } },
          { SpecialToken: { id: '[SEP]', type_id: 0 } },
          { Sequence: { id: 'A', type_id: 1 } },
          { SpecialToken: { id: '[MASK]', type_id: 1 } },
        ],
        special_tokens: {
          '[SEP]': { id: '[SEP]', ids: [102], tokens: ['[SEP]'] },
          '[CLS]': { id: '[CLS]', ids: [101], tokens: ['[CLS]'] },
          '[MASK]': { id: '[MASK]', ids: [103, 104], tokens: ['[MASK]', '[X]'] },
        },
      },
    },
  ],
  ['no post-processor', { post_processor: null }],
  ['stored padding: left, multiple of 8', { padding: { ...PAD, direction: 'Left', pad_to_multiple_of: 8 } }],
  ['stored padding: Fixed 200', { padding: { ...PAD, strategy: { Fixed: 200 } } }],
  ['no decoder, longer max_input_chars_per_word', { decoder: null, model: { ...(JSON.parse(tokenizerJson).model as object), max_input_chars_per_word: 120 } }],
];

for (const [name, patch] of VARIANTS) {
  test(`matches tokenizers (Rust): ${name}`, async (t) => {
    const json = JSON.stringify({ ...(JSON.parse(tokenizerJson) as object), truncation: null, padding: null, ...patch });
    // As the tokenizers library: what tokenizer.json stores applies.
    const ours = tokenizerFromJSON(json, { useStoredTruncationAndPadding: true });
    const theirs = hf.Tokenizer.fromString(json);
    const handmade = [
      'x<tag>y', '  <tag>  ', '<tag><tag>', ' \t<tag>\n\u3000<tag> z', 'qq', 'aqq qq! qq_x (qq) éqq', 'FOOBAR foobar Foobar foobarfoobar',
      'hello   world Hello World HELLO WORLD', 'is this is isn\'t island is.', '[MASK]<tag>[SEP]', 'Hello World<tag>foobar',
    ].map((text): { text: string; pair?: string } => ({ text }));
    const items: { text: string; pair?: string }[] = [...handmade, { text: 'is <tag> it', pair: 'foobar qq <tag>' }, ...corpus.slice(0, 800)];
    const singles = items.filter((c) => c.pair === undefined).map((c) => c.text);
    for (const add of [true, false]) {
      // Singles as one batch (padding is per batch); pairs one by one.
      const hb = await theirs.encodeBatch(singles, { addSpecialTokens: add });
      const ob = ours.encodeBatch(singles, { addSpecialTokens: add });
      let mismatches = 0;
      let first = '';
      const check = (h: (typeof hb)[number], e: (typeof ob.encodings)[number], it: { text: string; pair?: string }): void => {
        const seq = h.getSequenceIds();
        const mA = cpToUtf16(it.text);
        const mB = cpToUtf16(it.pair ?? '');
        const hOffsets = h.getOffsets().map(([s, en], k) => {
          if (seq[k] === null || seq[k] === undefined) return [s, en];
          const m = seq[k] === 1 ? mB : mA;
          return [m[s!]!, m[en!]!];
        });
        const got = [Array.from(e.ids), e.tokens, Array.from(e.typeIds), Array.from(e.attentionMask), e.offsets, e.wordIds, e.sequenceIds, Array.from(e.specialTokensMask)];
        const exp = [h.getIds(), h.getTokens(), h.getTypeIds(), h.getAttentionMask(), hOffsets, h.getWordIds().map((x) => x ?? null), seq.map((x) => x ?? null), h.getSpecialTokensMask()];
        if (JSON.stringify(got) !== JSON.stringify(exp)) {
          mismatches++;
          if (!first) first = `${JSON.stringify(it)}\n ours ${JSON.stringify(got).slice(0, 800)}\n hf   ${JSON.stringify(exp).slice(0, 800)}`;
        }
      };
      singles.forEach((text, i) => check(hb[i]!, ob.encodings[i]!, { text }));
      for (const it of items.filter((c) => c.pair !== undefined)) {
        check(await theirs.encode(it.text, it.pair!, { addSpecialTokens: add }), ours.encode(it.text, it.pair, { addSpecialTokens: add }), it);
      }
      t.is(mismatches, 0, first);
      // Decoding (added tokens decode to their normalised form when matched normalised).
      let decodeMismatches = 0;
      for (let i = 0; i < singles.length; i += 7) {
        for (const skip of [true, false]) {
          if ((await theirs.decode(hb[i]!.getIds(), skip)) !== ours.decode(hb[i]!.getIds(), { skipSpecialTokens: skip, cleanUpTokenizationSpaces: false })) decodeMismatches++;
        }
      }
      t.is(decodeMismatches, 0);
    }
  });
}
