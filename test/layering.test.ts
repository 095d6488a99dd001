/**
 * The layers point one way (README "Layout"): every relative import under src-ts/ is checked
 * against the table below, so that model/ can never again reach up into serving/ or training/,
 * nor the tokenizer into the model. Type-only imports count too: they tie the layers as well.
 */
import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { repoRoot } from './helpers/fixtures.js';

const SRC = join(repoRoot, 'src-ts');

/** Modules every layer may use: they import nothing but each other (families.ts: the family rows, data only). */
const LEAVES = ['errors.ts', 'options.ts', 'inputs.ts', 'util', 'families.ts', 'version.ts'];
const BELOW_MODEL = [...LEAVES, 'config.ts', 'native', 'hub', 'weights', 'tokenizer'];
const MODEL_AND_BELOW = [...BELOW_MODEL, 'model'];

/** Layer (a folder of src-ts/, or a file at its top) → the layers it may import. */
const ALLOWED: Record<string, readonly string[]> = {
  'errors.ts': [],
  'inputs.ts': [],
  'families.ts': [],
  'version.ts': [],
  'options.ts': ['errors.ts'],
  util: ['errors.ts'],
  native: [...LEAVES],
  'config.ts': [...LEAVES, 'native'],
  hub: [...LEAVES],
  weights: [...LEAVES, 'config.ts', 'native'],
  tokenizer: [...LEAVES, 'hub'],
  model: BELOW_MODEL,
  pipelines: MODEL_AND_BELOW,
  training: MODEL_AND_BELOW,
  visualize: MODEL_AND_BELOW,
  // The batcher's embed() pools as the sentence-embeddings pipeline does (pipelines/pooling.ts).
  serving: [...MODEL_AND_BELOW, 'pipelines'],
  // Job queues sit beside serving and share one batcher per worker.
  queue: [...MODEL_AND_BELOW, 'pipelines', 'serving'],
  cli: [...MODEL_AND_BELOW, 'pipelines', 'training', 'visualize', 'serving', 'queue', 'index.ts'],
  'index.ts': [...MODEL_AND_BELOW, 'pipelines', 'training', 'visualize', 'serving', 'queue'],
  // What the published entry loads at import (scripts/bundle.mjs): constants from below.
  'index-eager.ts': [...MODEL_AND_BELOW, 'pipelines', 'queue'],
};

function layerOf(file: string): string {
  return relative(SRC, file).split(sep)[0]!;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Relative specifiers of static imports, re-exports and dynamic imports. */
function importsOf(text: string): string[] {
  const specs: string[] = [];
  const patterns = [/\b(?:import|export)\s[^'";]*?\bfrom\s*['"](\.[^'"]+)['"]/g, /\bimport\s*\(\s*['"](\.[^'"]+)['"]\s*\)/g, /^\s*import\s*['"](\.[^'"]+)['"]/gm];
  for (const re of patterns) for (const m of text.matchAll(re)) specs.push(m[1]!);
  return specs;
}

/** Every import that crosses layers the table does not allow, as "from → to". */
function violations(files: { path: string; text: string }[]): { edges: number; bad: string[] } {
  let edges = 0;
  const bad: string[] = [];
  for (const { path, text } of files) {
    const from = layerOf(path);
    for (const spec of importsOf(text)) {
      const target = resolve(dirname(path), spec).replace(/\.js$/, '.ts');
      const to = layerOf(target);
      edges++;
      if (to === from) continue;
      const allowed = ALLOWED[from];
      if (!allowed || !allowed.includes(to)) bad.push(`${relative(SRC, path)} imports ${spec} (${from} → ${to})`);
    }
  }
  return { edges, bad };
}

const files = sources(SRC).map((path) => ({ path, text: readFileSync(path, 'utf8') }));

test('every top-level folder and file of src-ts/ has a place in the layer table', (t) => {
  const layers = new Set(files.map((f) => layerOf(f.path)));
  t.deepEqual([...layers].filter((l) => !(l in ALLOWED)), []);
});

test('imports under src-ts/ point down the layers only', (t) => {
  const { edges, bad } = violations(files);
  // The scan sees the imports (a scanner that matched nothing would pass anything).
  t.true(edges > 300, `only ${edges} imports found`);
  t.deepEqual(bad, []);
});

test('model/ imports neither serving/ nor training/ (nor anything above it)', (t) => {
  const model = files.filter((f) => layerOf(f.path) === 'model');
  t.true(model.length >= 5);
  for (const f of model) {
    for (const spec of importsOf(f.text)) t.notRegex(resolve(dirname(f.path), spec), /src-ts[\\/](serving|training|pipelines|cli|visualize|index)/, relative(SRC, f.path));
  }
});

test('the check catches an upward import, a dynamic one included', (t) => {
  const fake = (layer: string, text: string) => ({ path: join(SRC, layer, 'x.ts'), text });
  const { bad } = violations([
    fake('model', "import { createBatcher } from '../serving/batcher.js';"),
    fake('model', "const { buildTrainableModel } = await import('../training/trainable-model.js');"),
    fake('tokenizer', "import type { BertModel } from '../model/bert-model.js';"),
    fake('pipelines', "import { loadModel } from '../model/load.js';"),
  ]);
  t.is(bad.length, 3);
});

test('only native/napi includes napi.h', (t) => {
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(cc|cu|cuh|h)$/.test(e.name) && /#include\s*[<"]napi\.h[>"]/.test(readFileSync(p, 'utf8'))) offenders.push(relative(repoRoot, p));
    }
  };
  walk(join(repoRoot, 'native'));
  walk(join(repoRoot, 'cuda'));
  t.true(offenders.length > 0, 'the scan finds the addon itself');
  t.deepEqual(offenders.filter((p) => !p.startsWith(`native${sep}napi${sep}`)), []);
});
