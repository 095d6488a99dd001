#!/usr/bin/env node
// Tokenizer throughput: bertkit's `encodeBatch` against Hugging Face's Rust `tokenizers` (npm
// binding) and @huggingface/transformers' (transformers.js) tokenizer, on the real bert-base-uncased
// tokenizer.json, in the same process. Workloads: 20,000 realistic English sentences, long documents,
// and multilingual text (accents, CJK, Cyrillic, emoji: the non-ASCII path). Contenders alternate
// within each round; the medians of the rounds are reported as tokens/s and as ratios.
//
//   npm run build                                              # bertkit from dist/
//   (cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm install)   # transformers.js (optional)
//   node bench/tokenizer.mjs [--rounds 7] [--sentences 20000] [--docs 200] [--only bertkit] [--json]
//
// What each contender does per round (no truncation, no padding, special tokens added):
//   bertkit        tok.encodeBatch(texts)            ids in Int32Array rows (offsets etc. lazily)
//   tokenizers     await tok.encodeBatch(texts) and getIds() on every encoding (Rust, 2 threads)
//   transformers   texts.map((t) => tok.encode(t))   (its fastest way to ids)
// and, for request-at-a-time latency, one call per text: tok.encode(t) / await rust.encode(t).
// No GC is forced between calls (forcing one shrinks V8's young generation and slows whoever runs
// next), so a contender may pay for another's garbage; the order alternates every round.
// tokenizers runs with its defaults (Rayon, one thread per core); TOKENIZERS_PARALLELISM=false
// times it single-threaded.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execSync } from 'node:child_process';


const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const require = createRequire(import.meta.url);
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    sentences: { type: 'string', default: '20000' },
    docs: { type: 'string', default: '200' },
    json: { type: 'boolean', default: false },
    only: { type: 'string' },
    data: { type: 'string', default: join(root, 'test', 'fixtures', 'tokenizer', 'bert-base-uncased') },
  },
});
const ROUNDS = Number(args.rounds);
const tokDir = process.env.BERTKIT_SHARED_DIR ? join(process.env.BERTKIT_SHARED_DIR, 'data', 'bert-base-uncased-tokenizer') : args.data;

// ---- corpus (seeded) ----------------------------------------------------------------------------

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = (r, a) => a[Math.floor(r() * a.length)];
const W = {
  det: 'the a an this that every some no each another our their my your'.split(' '),
  adj: 'new old small large important recent public local final main early major economic political social legal financial technical quiet bright difficult available significant particular international environmental interesting unexpected electrical'.split(' '),
  noun: 'government company system program question problem student family report market research committee decision development information community service government\'s policy evidence experience teacher hospital council agreement election industry technology network software database patient treatment university river mountain museum painting restaurant customer'.split(' '),
  verb: 'announced reviewed discussed described explained approved rejected considered developed published reported suggested increased reduced supported launched delivered completed investigated questioned'.split(' '),
  adv: 'quickly recently carefully finally probably certainly really nearly almost already still often rarely'.split(' '),
  name: 'Maria John Ahmed Wei Olga Pierre Lukas Aiko Fatima Carlos Smith Johnson Müller García Nakamura Kowalski Dubois Rossi'.split(' '),
  place: 'London Paris Berlin Tokyo "New York" Chicago Toronto Sydney Madrid Seoul Mumbai Cairo Zürich São\u00a0Paulo'.split(' '),
  org: 'Microsoft Google Amazon "the World Bank" NASA "the European Union" Apple Toyota Siemens "the United Nations"'.split(' '),
  misc: ["don't", "can't", "it's", "they're", 'U.S.', 'e.g.', 'Dr.', 'Mr.', '$1,250.00', '3.5%', '2024', '10,000', '1st', 'COVID-19', 'state-of-the-art', 'e-mail', 'https://example.com/page?id=42', 'café', 'naïve', 'résumé'],
};
function sentence(r) {
  const parts = [];
  const n = 1 + Math.floor(r() * 3);
  for (let c = 0; c < n; c++) {
    const subj = r() < 0.3 ? pick(r, W.name) + (r() < 0.5 ? ' ' + pick(r, W.name) : '') : r() < 0.2 ? pick(r, W.org) : `${pick(r, W.det)} ${r() < 0.6 ? pick(r, W.adj) + ' ' : ''}${pick(r, W.noun)}`;
    const obj = `${pick(r, W.det)} ${r() < 0.5 ? pick(r, W.adj) + ' ' : ''}${pick(r, W.noun)}`;
    let clause = `${subj} ${r() < 0.3 ? pick(r, W.adv) + ' ' : ''}${pick(r, W.verb)} ${obj}`;
    if (r() < 0.4) clause += ` in ${pick(r, W.place)}`;
    if (r() < 0.25) clause += ` (${pick(r, W.misc)})`;
    if (r() < 0.2) clause += ` with ${pick(r, W.misc)} ${pick(r, W.noun)}s`;
    parts.push(clause);
  }
  let s = parts.join(pick(r, [', and ', '; ', ', but ', ' because ', ', while ']));
  s = s[0].toUpperCase() + s.slice(1) + pick(r, ['.', '.', '.', '?', '!', '...']);
  if (r() < 0.1) s = `"${s}" said ${pick(r, W.name)}.`;
  return s;
}
const MULTI = [
  'Der Ausschuss hat die Entscheidung überraschend schnell getroffen.',
  'Le gouvernement a présenté un projet de loi très ambitieux à l’Assemblée.',
  'El mercado internacional reaccionó con cautela a las noticias económicas.',
  'Правительство объявило о новых мерах поддержки малого бизнеса.',
  'Η επιτροπή ενέκρινε τον προϋπολογισμό για το επόμενο έτος.',
  '東京の大学で新しい研究プロジェクトが始まりました。',
  '北京市政府宣布了新的环境保护政策。',
  '서울에서 열린 국제 회의에 많은 사람들이 참석했습니다.',
  'Die Präsidentin sprach über Ängste, Hoffnungen und die Zukunft Europas 🇪🇺.',
  'Great news from the team 🎉👍🏽 — launch is on Friday!',
  'مرحبا بكم في المؤتمر الدولي للتكنولوجيا',
  'नई दिल्ली में सम्मेलन का आयोजन किया गया।',
];

const r = rng(20240611);
const sentences = Array.from({ length: Number(args.sentences) }, () => sentence(r));
const docs = Array.from({ length: Number(args.docs) }, () => {
  const n = 80 + Math.floor(r() * 80);
  let d = '';
  for (let i = 0; i < n; i++) d += sentence(r) + (r() < 0.1 ? '\n\n' : ' ');
  return d;
});
const multilingual = Array.from({ length: 5000 }, () => {
  const n = 1 + Math.floor(r() * 3);
  return Array.from({ length: n }, () => (r() < 0.5 ? pick(r, MULTI) : sentence(r))).join(' ');
});

// ---- contenders -------------------------------------------------------------------------------

const distEntry = join(root, 'dist', 'tokenizer', 'index.js');
if (!existsSync(distEntry)) {
  console.error('dist/tokenizer/index.js is missing: run `npm run build` first');
  process.exit(1);
}
const { loadTokenizer } = await import(distEntry);
const ours = await loadTokenizer(tokDir);
ours.setTruncation(null);
ours.setPadding(null);

const hf = require('tokenizers');
const rust = hf.Tokenizer.fromFile(join(tokDir, 'tokenizer.json'));
rust.disableTruncation();
rust.disablePadding();

let tjs = null;
const tjsEntry = join(here, 'peers', 'node_modules', '@huggingface', 'transformers', 'dist', 'transformers.node.mjs');
let tjsVersion = null;
if (existsSync(tjsEntry)) {
  const { AutoTokenizer, env } = await import(tjsEntry);
  env.allowRemoteModels = false;
  env.localModelPath = dirname(tokDir);
  tjs = await AutoTokenizer.from_pretrained(tokDir.split(/[\\/]/).pop());
  tjsVersion = JSON.parse(readFileSync(join(here, 'peers', 'node_modules', '@huggingface', 'transformers', 'package.json'), 'utf8')).version;
} else {
  console.error('(transformers.js not installed: cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm install)');
}

const contenders = {
  bertkit: async (texts) => {
    const b = ours.encodeBatch(texts);
    let n = 0;
    for (const row of b.inputIds) n += row.length;
    return n;
  },
  tokenizers: async (texts) => {
    const encs = await rust.encodeBatch(texts);
    let n = 0;
    for (const e of encs) n += e.getIds().length;
    return n;
  },
};
if (tjs) {
  contenders.transformers = async (texts) => {
    let n = 0;
    for (const t of texts) n += tjs.encode(t).length;
    return n;
  };
}
// One call per text (a server answering requests one at a time).
const singleCalls = {
  bertkit: async (texts) => {
    let n = 0;
    for (const t of texts) n += ours.encode(t).ids.length;
    return n;
  },
  tokenizers: async (texts) => {
    let n = 0;
    for (const t of texts) n += (await rust.encode(t)).getIds().length;
    return n;
  },
};
if (tjs) singleCalls.transformers = contenders.transformers;

if (args.only) {
  for (const n of Object.keys(contenders)) if (n !== args.only) delete contenders[n];
  for (const n of Object.keys(singleCalls)) if (n !== args.only) delete singleCalls[n];
}

// ---- parity check on the benchmark corpus (so the speed is of the same work) -------------------

async function parity(texts) {
  const b = ours.encodeBatch(texts);
  const encs = await rust.encodeBatch(texts);
  let diff = 0;
  for (let i = 0; i < texts.length; i++) {
    const a = b.inputIds[i];
    const e = encs[i].getIds();
    if (a.length !== e.length || a.some((x, k) => x !== e[k])) diff++;
  }
  let tdiff = 0;
  if (tjs) {
    for (let i = 0; i < texts.length; i += 10) {
      const e = tjs.encode(texts[i]);
      const a = b.inputIds[i];
      if (a.length !== e.length || a.some((x, k) => x !== e[k])) tdiff++;
    }
  }
  return { rust: diff, transformers: tjs ? tdiff : null };
}

// ---- run --------------------------------------------------------------------------------------

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function bench(name, texts, contenders) {
  const names = Object.keys(contenders);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  const tokens = {};
  for (const n of names) tokens[n] = await contenders[n](texts); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...names].reverse() : names;
    for (const n of order) {
      const t0 = performance.now();
      await contenders[n](texts);
      times[n].push(performance.now() - t0);
    }
  }
  const res = { workload: name, texts: texts.length, chars: texts.reduce((a, t) => a + t.length, 0), tokens: tokens.bertkit ?? Object.values(tokens)[0], results: {} };
  for (const n of names) {
    const ms = median(times[n]);
    res.results[n] = { ms, tokensPerSec: tokens[n] / (ms / 1000), minMs: Math.min(...times[n]), maxMs: Math.max(...times[n]) };
  }
  res.parity = await parity(texts);
  return res;
}

const commit = (() => {
  try {
    return execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim();
  } catch {
    return 'unknown';
  }
})();
const cpu = (() => {
  try {
    return execSync('lscpu', { encoding: 'utf8' }).match(/Model name:\s*(.*)/)?.[1]?.trim() ?? os.cpus()[0]?.model;
  } catch {
    return os.cpus()[0]?.model;
  }
})();
const meta = {
  date: new Date().toISOString(),
  node: process.version,
  cpu,
  cores: os.cpus().length,
  commit,
  tokenizers: require('tokenizers/package.json').version,
  transformers: tjsVersion,
  rounds: ROUNDS,
};
const all = [];
for (const [name, texts, set] of [
  [`encodeBatch: ${sentences.length} sentences`, sentences, contenders],
  [`encodeBatch: ${docs.length} long documents`, docs, contenders],
  [`encodeBatch: ${multilingual.length} multilingual texts`, multilingual, contenders],
  [`encode, one call per text: ${Math.min(5000, sentences.length)} sentences`, sentences.slice(0, 5000), singleCalls],
]) {
  const res = await bench(name, texts, set);
  all.push(res);
  if (!args.json) {
    const base = res.results.bertkit?.tokensPerSec ?? NaN;
    console.log(`\n${res.workload}: ${res.texts} texts, ${res.chars} chars, ${res.tokens} tokens (median of ${ROUNDS})`);
    for (const [n, v] of Object.entries(res.results)) {
      const ratio = n === 'bertkit' ? '' : `   bertkit is ${(base / v.tokensPerSec).toFixed(2)}x`;
      console.log(`  ${n.padEnd(13)} ${(v.tokensPerSec / 1e6).toFixed(2).padStart(6)} M tokens/s  ${v.ms.toFixed(1).padStart(8)} ms${ratio}`);
    }
    console.log(`  parity: ${res.parity.rust} rows differ from tokenizers${res.parity.transformers === null ? '' : `, ${res.parity.transformers} sampled rows from transformers.js`}`);
  }
}
if (args.json) console.log(JSON.stringify({ meta, results: all }, null, 2));
else console.log(`\n${JSON.stringify(meta)}`);
