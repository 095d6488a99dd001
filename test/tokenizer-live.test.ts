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
import { bertBaseUncasedDir } from './helpers/fixtures.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const hf = require('tokenizers') as typeof import('tokenizers');

const tokenizerJson = readFileSync(join(bertBaseUncasedDir, 'tokenizer.json'), 'utf8');

// ---- seeded corpus ---------------------------------------------------------------------------

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the of and to in is was he for it with as his on be at by i this had not are but from or have an they which one you were ' +
  'her all she there would their we him been has when who will more no if out so said what up its about into than them can only ' +
  "other new some could time these two may then do first any my now such like our over man me even most made after also did many " +
  "before must through back years where much your way well down should because each just those people mr how too little state good " +
  "very make world still own see men work long get here between both life being under never day same another know while last might " +
  "us great old year off come since against go came right used take three don't can't it's they're we've I'm couldn't e.g. U.S.A. " +
  'Dr. Mrs. $1,250.00 3.14159 1st 2nd 10,000 50% café naïve résumé Zürich Ångström straße STRASSE İstanbul ǅemal ﬁnance Œuvre ' +
  'Ελληνικά ΟΔΟΣ Москва Київ Ֆրանսիա ქართული עברית العربية हिन्दी বাংলা ภาษาไทย ລາວ བོད་ ᚠᚢᚦᚨᚱᚲ ኢትዮጵያ ᏣᎳᎩ ᠮᠣᠩᠭᠣᠯ ' +
  'ខ្មែរ မြန်မာ සිංහල தமிழ் తెలుగు ಕನ್ನಡ മലയാളം 日本語 中文 汉字 한국어 한글 ㄱㄴㄷ ひらがな カタカナ ｶﾀｶﾅ ＦＵＬＬ ٠١٢٣ ０１２'
).split(' ');

const SPECIAL_LITERALS = ['[CLS]', '[SEP]', '[MASK]', '[PAD]', '[UNK]', '[unused1]', '[mask]', '[ MASK ]', '[[MASK]]', 'x[MASK]y', '[MASK][MASK]', '[SEP', 'SEP]', '[CLS]!'];
const EMOJI = [
  '😀', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇫🇷', '🇯🇵', '#️⃣', '1️⃣', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '❤️', '☺︎', '🧑🏿‍🚀', '👩‍❤️‍💋‍👨', '🫠', '🪿',
];
const CONTROLS = [
  '\u0000', '\u0001', '\u0007', '\u0008', '\u000b', '\u000c', '\u001b', '\u007f', '\u0080', '\u0085', '\u009f', '\u00ad', '\u034f',
  '\u061c', '\u180e', '\u200b', '\u200c', '\u200d', '\u200e', '\u202a', '\u202e', '\u2060', '\u2066', '\ufeff', '\ufff9', '\ufffd',
  '\u0890', '\u08e2', '\u{110cd}', '\u{13430}', '\u{e0001}', '\u{e0041}', '\ue000', '\u{f0000}',
];
const SPACES = [' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u1680', '\u2002', '\u2009', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000'];
const MARKS: [number, number][] = [
  [0x300, 0x36f], [0x483, 0x489], [0x591, 0x5bd], [0x610, 0x61a], [0x64b, 0x65f], [0x900, 0x903], [0x93a, 0x94f], [0xe31, 0xe3a],
  [0x1ab0, 0x1ace], [0x1dc0, 0x1dff], [0x20d0, 0x20f0], [0xfe00, 0xfe0f], [0xfe20, 0xfe2f], [0x1d165, 0x1d169], [0xe0100, 0xe01ef],
  [0x897, 0x89f], [0x1df6, 0x1dfb], [0x10d69, 0x10d6d],
];
const BLOCKS: [number, number][] = [
  [0x21, 0x7e], [0xa1, 0x24f], [0x250, 0x2ff], [0x370, 0x3ff], [0x400, 0x52f], [0x531, 0x58f], [0x591, 0x5f4], [0x600, 0x6ff],
  [0x700, 0x74f], [0x780, 0x7bf], [0x900, 0x97f], [0x980, 0x9ff], [0xa00, 0xa7f], [0xb80, 0xbff], [0xc00, 0xc7f], [0xd00, 0xd7f],
  [0xe00, 0xe7f], [0xe80, 0xeff], [0xf00, 0xfff], [0x1000, 0x109f], [0x10a0, 0x10ff], [0x1100, 0x11ff], [0x1200, 0x139f],
  [0x13a0, 0x13ff], [0x1400, 0x167f], [0x16a0, 0x16ff], [0x1780, 0x17ff], [0x1800, 0x18af], [0x1e00, 0x1fff], [0x2000, 0x206f],
  [0x2070, 0x209f], [0x20a0, 0x20c0], [0x2100, 0x214f], [0x2150, 0x218b], [0x2190, 0x23ff], [0x2460, 0x24ff], [0x2500, 0x27bf],
  [0x2c00, 0x2c5f], [0x2c60, 0x2c7f], [0x2d30, 0x2d7f], [0x2e00, 0x2e5d], [0x2e80, 0x2fdf], [0x3000, 0x303f], [0x3040, 0x30ff],
  [0x3100, 0x318f], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf], [0xa640, 0xa69f], [0xa700, 0xa7ff], [0xa800, 0xa82f],
  [0xa830, 0xa8ff], [0xa980, 0xa9df], [0xaa00, 0xaadf], [0xab70, 0xabff], [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfb00, 0xfb4f],
  [0xfb50, 0xfdff], [0xfe10, 0xfe6f], [0xfe70, 0xfeff], [0xff00, 0xffef], [0x10000, 0x1034f], [0x10400, 0x1047f],
  [0x10d00, 0x10d8f], [0x10e80, 0x10eff], [0x11000, 0x1107f], [0x11100, 0x111ff], [0x11380, 0x113ff], [0x11900, 0x1195f],
  [0x12000, 0x1254f], [0x13000, 0x1345f], [0x16100, 0x1613f], [0x16d40, 0x16d7f], [0x1d400, 0x1d7ff], [0x1e900, 0x1e95f],
  [0x1f000, 0x1faff], [0x20000, 0x2a6df], [0x2a700, 0x2ebe0], [0x2f800, 0x2fa1f], [0x30000, 0x3134f],
];

function pickRange(r: () => number, ranges: [number, number][]): number {
  const [a, b] = ranges[Math.floor(r() * ranges.length)]!;
  return a + Math.floor(r() * (b - a + 1));
}

function makeItem(r: () => number): string {
  const n = 1 + Math.floor(r() * 12);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const x = r();
    let p: string;
    if (x < 0.3) {
      p = WORDS[Math.floor(r() * WORDS.length)]!;
      if (r() < 0.2) p = p.toUpperCase();
      if (r() < 0.15) p = p.normalize('NFD');
    } else if (x < 0.42) {
      p = '';
      const len = 1 + Math.floor(r() * 6);
      for (let k = 0; k < len; k++) p += String.fromCodePoint(pickRange(r, BLOCKS));
    } else if (x < 0.5) {
      p = WORDS[Math.floor(r() * WORDS.length)]!;
      const len = 1 + Math.floor(r() * 3);
      for (let k = 0; k < len; k++) p += String.fromCodePoint(pickRange(r, MARKS));
      if (r() < 0.3) p = String.fromCodePoint(pickRange(r, MARKS)) + p;
    } else if (x < 0.57) {
      p = EMOJI[Math.floor(r() * EMOJI.length)]!;
    } else if (x < 0.63) {
      p = SPECIAL_LITERALS[Math.floor(r() * SPECIAL_LITERALS.length)]!;
    } else if (x < 0.7) {
      const w = WORDS[Math.floor(r() * WORDS.length)]!;
      const at = Math.floor(r() * (w.length + 1));
      p = w.slice(0, at) + CONTROLS[Math.floor(r() * CONTROLS.length)]! + w.slice(at);
    } else if (x < 0.74) {
      // Any code point at all: unassigned, private use, newest additions.
      p = String.fromCodePoint(Math.floor(r() * 0x110000) & ~(r() < 0.5 ? 0 : 0xf0000));
      if (/[\ud800-\udfff]/.test(p)) p = 'q';
    } else if (x < 0.77) {
      // Unpaired surrogates.
      p = ['\ud800', '\udfff', 'a\ud83db', '\ude00x', '\ud83d\ud83d'][Math.floor(r() * 5)]!;
    } else if (x < 0.8) {
      const len = [98, 99, 100, 101, 102, 120, 150, 250][Math.floor(r() * 8)]!;
      const unit = ['a', 'é', 'e\u0301', 'ab', '😀', '中', 'ß', 'x-'][Math.floor(r() * 8)]!;
      p = unit.repeat(Math.ceil(len / unit.length)).slice(0, len);
    } else if (x < 0.86) {
      p = '.,;:!?-–—…()[]{}"\'«»„“”‘’¿¡§¶•·‧※⁂⸘⸮⹂⹃⹏、。〃「」『』【】〜・'.slice(Math.floor(r() * 40), Math.floor(r() * 40) + 1 + Math.floor(r() * 4));
    } else if (x < 0.9) {
      p = ['ΣΑΣ', 'ὈΔΥΣΣΕΎΣ', 'İı', 'ẞß', 'Åström', '한국어'.normalize('NFD'), 'ǅǄǆ', 'ﬃ', 'Ⅻ', '①', 'ℌ', '㎏', 'K', 'Ω'][Math.floor(r() * 14)]!;
    } else {
      p = String(Math.floor(r() * 1e6)) + (r() < 0.5 ? '.5' : ',000');
    }
    parts.push(p);
    const sep = r();
    parts.push(sep < 0.7 ? ' ' : sep < 0.85 ? SPACES[Math.floor(r() * SPACES.length)]! : sep < 0.93 ? '' : CONTROLS[Math.floor(r() * CONTROLS.length)]!);
  }
  return parts.join('');
}

function makeCorpus(seed: number, n: number): { text: string; pair?: string }[] {
  const r = rng(seed);
  const out: { text: string; pair?: string }[] = [];
  for (let i = 0; i < n; i++) {
    const text = r() < 0.03 ? ['', ' ', '\u200b', '\t\n'][Math.floor(r() * 4)]! : makeItem(r);
    out.push(r() < 0.3 ? { text, pair: r() < 0.05 ? '' : makeItem(r) } : { text });
  }
  return out;
}

// ---- comparison ------------------------------------------------------------------------------

/** Code-point offsets (what the Rust binding returns) → UTF-16 offsets into the same text. */
function cpToUtf16(text: string): Int32Array {
  const map = new Int32Array(text.length + 2);
  let cp = 0;
  for (let i = 0; i < text.length; ) {
    map[cp++] = i;
    const c = text.codePointAt(i)!;
    i += c > 0xffff ? 2 : 1;
  }
  map[cp] = text.length;
  return map;
}

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
    const ours = tokenizerFromJSON(json);
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
