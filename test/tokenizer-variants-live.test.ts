/**
 * Live parity with Hugging Face's Rust `tokenizers` (the npm binding, a devDependency) for the
 * byte-level BPE and Unigram tokenizers on the seeded adversarial corpus, each tokenizer.json also
 * given added tokens of every kind (lstrip / rstrip / single_word / normalized, special or not),
 * and a few other component settings (add_prefix_space, prepend_scheme first, byte_fallback,
 * Strip). Ids, tokens, type / word / sequence ids, UTF-16 offsets, masks, decoding.
 * Truncation is covered by the 0.22 goldens (tokenizers 0.23.x has huggingface/tokenizers#2091).
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import { tokenizerFromJSON } from '../src-ts/tokenizer/index.js';
import { cpToUtf16, makeCorpus } from './helpers/corpus.js';
import { fixture } from './helpers/fixtures.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const hf = require('tokenizers') as typeof import('tokenizers');

type Json = Record<string, unknown>;

const read = (folder: string): Json => JSON.parse(readFileSync(fixture('variants', folder, 'tokenizer.json'), 'utf8')) as Json;
const gpt2 = (): Json => JSON.parse(gunzipSync(readFileSync(fixture('variants', 'tokenizer', 'gpt2-roberta', 'tokenizer.json.gz'))).toString('utf8')) as Json;

/** Added tokens of every kind, with ids after `size`. */
function withAdded(j: Json, size: number): Json {
  const added = [...(j['added_tokens'] as Json[])];
  const extra = [
    { content: 'foobar', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
    { content: '<tag>', single_word: false, lstrip: true, rstrip: true, normalized: false, special: true },
    { content: 'qq', single_word: true, lstrip: false, rstrip: false, normalized: false, special: false },
    { content: 'The', single_word: false, lstrip: false, rstrip: true, normalized: true, special: false },
    { content: ' of', single_word: false, lstrip: false, rstrip: false, normalized: false, special: false },
  ];
  extra.forEach((t, k) => added.push({ id: size + k, ...t }));
  return { ...j, added_tokens: added };
}

const CASES: [string, () => Json][] = [
  ['bbpe (RoBERTa byte-level BPE) + added tokens', () => withAdded(read('roberta-model'), 400)],
  ['gpt2-roberta (50k merges)', gpt2],
  ['bbpe with add_prefix_space', () => {
    const j = read('roberta-model');
    return { ...j, pre_tokenizer: { ...(j['pre_tokenizer'] as Json), add_prefix_space: true }, post_processor: { ...(j['post_processor'] as Json), add_prefix_space: true } };
  }],
  ['xlmr-spm (Unigram + Precompiled nmt_nfkc) + added tokens', () => withAdded(read('xlmr-model'), 402)],
  ['albert-spm (Unigram + Replace/NFKD/StripAccents/Lowercase) + added tokens', () => withAdded(read('albert-model'), 400)],
  ['xlmr-spm, Metaspace prepend_scheme first', () => {
    const j = read('xlmr-model');
    return { ...j, pre_tokenizer: { ...(j['pre_tokenizer'] as Json), prepend_scheme: 'first' }, decoder: { ...(j['decoder'] as Json), prepend_scheme: 'first' } };
  }],
  ['albert-spm with Strip + Lowercase and byte_fallback pieces', () => {
    const j = read('albert-model');
    const m = j['model'] as Json;
    const vocab = [...(m['vocab'] as [string, number][])];
    for (let b = 0; b < 256; b++) vocab.push([`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, -20]);
    return {
      ...j,
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Strip', strip_left: true, strip_right: true }, { type: 'Lowercase' }] },
      model: { ...m, vocab, byte_fallback: true },
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    };
  }],
];

const corpus = makeCorpus(20251205, 1500);

for (const [name, make] of CASES) {
  test(`matches tokenizers (Rust) on ${corpus.length} generated items: ${name}`, async (t) => {
    const json = JSON.stringify(make());
    const ours = tokenizerFromJSON(json);
    const theirs = hf.Tokenizer.fromString(json);
    const encs = await Promise.all(corpus.map((it) => theirs.encode(it.text, it.pair ?? null)));
    const report: string[] = [];
    let mismatches = 0;
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
      const got = [Array.from(e.ids), e.tokens, Array.from(e.typeIds), e.offsets, e.wordIds, e.sequenceIds, Array.from(e.specialTokensMask)];
      const exp = [h.getIds(), h.getTokens(), h.getTypeIds(), hOffsets, h.getWordIds().map((x) => x ?? null), seq.map((x) => x ?? null), h.getSpecialTokensMask()];
      if (JSON.stringify(got) !== JSON.stringify(exp)) {
        mismatches++;
        if (report.length < 3) report.push(`${JSON.stringify(it)}\n ours ${JSON.stringify(got).slice(0, 900)}\n hf   ${JSON.stringify(exp).slice(0, 900)}`);
      }
    }
    t.is(mismatches, 0, report.join('\n'));
    let decodeMismatches = 0;
    const dreport: string[] = [];
    for (let i = 0; i < corpus.length; i += 3) {
      const ids = encs[i]!.getIds();
      for (const skip of [true, false]) {
        const exp = await theirs.decode(ids, skip);
        const got = ours.decode(ids, { skipSpecialTokens: skip, cleanUpTokenizationSpaces: false });
        if (exp !== got) {
          decodeMismatches++;
          if (dreport.length < 3) dreport.push(`${JSON.stringify(ids)} skip=${skip}\n ours ${JSON.stringify(got)}\n hf   ${JSON.stringify(exp)}`);
        }
      }
    }
    t.is(decodeMismatches, 0, dreport.join('\n'));
  });
}
