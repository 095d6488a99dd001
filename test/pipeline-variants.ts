/**
 * Variants of the shared tiny fixtures for the options the shared goldens do not cover, built the
 * way test/data/pipelines/make_refs.py builds them for transformers / sentence-transformers.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, loadTokenizer, type BertModel, type Tokenizer } from '../src-ts/index.js';
import { parseSafetensors } from '../src-ts/weights/index.js';
import { fixture, repoRoot } from './helpers/fixtures.js';

export const references = JSON.parse(readFileSync(join(repoRoot, 'test', 'data', 'pipelines', 'references.json'), 'utf8'));

export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'bertkit-pipelines-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A copy of a fixture folder (goldens left out) with config.json keys changed (undefined: removed). */
export function fixtureVariant(root: string, name: string, from: string, config: Record<string, unknown>): string {
  const dst = join(root, name);
  cpSync(fixture(from), dst, { recursive: true, filter: (src) => !/golden\.(json|safetensors)$/.test(src) });
  const cfgPath = join(dst, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  for (const [k, v] of Object.entries(config)) {
    if (v === undefined) delete cfg[k];
    else cfg[k] = v;
  }
  writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
  return dst;
}

export function labels(names: string[]): { id2label: Record<string, string>; label2id: Record<string, number> } {
  return {
    id2label: Object.fromEntries(names.map((n, i) => [String(i), n])),
    label2id: Object.fromEntries(names.map((n, i) => [n, i])),
  };
}

/** tiny-bert-seqcls with only classifier row 2: a one-label model (a cross-encoder), in memory. */
export async function oneLabelModel(config: Record<string, unknown> = {}): Promise<{ model: BertModel; tokenizer: Tokenizer }> {
  const dir = fixture('tiny-bert-seqcls');
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  delete cfg.problem_type;
  Object.assign(cfg, { id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 } }, config);
  const tensors = parseSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors');
  const input = new Map<string, { dtype: 'F32'; dims: number[]; data: Uint8Array }>();
  for (const [name, t] of tensors) input.set(name, { dtype: t.dtype as 'F32', dims: t.dims, data: t.data });
  const w = tensors.get('classifier.weight')!;
  const H = w.dims[1]!;
  input.set('classifier.weight', { dtype: 'F32', dims: [1, H], data: w.data.slice(2 * H * 4, 3 * H * 4) });
  input.set('classifier.bias', { dtype: 'F32', dims: [1], data: tensors.get('classifier.bias')!.data.slice(8, 12) });
  const model = await createModel(cfg, input, { threads: 1 });
  return { model, tokenizer: await loadTokenizer(dir) };
}

/** The sentence-transformers folders of make_refs.py (ST_FOLDERS), on tiny-bert-model's weights. */
export const ST_FOLDERS: Record<string, [Record<string, unknown>, boolean, Record<string, unknown> | null, number]> = {
  sqrt: [{ word_embedding_dimension: 64, pooling_mode_mean_sqrt_len_tokens: true }, false, null, 64],
  weighted: [{ word_embedding_dimension: 64, pooling_mode_weightedmean_tokens: true }, false, null, 64],
  last: [{ word_embedding_dimension: 64, pooling_mode_lasttoken: true }, false, null, 64],
  max: [{ word_embedding_dimension: 64, pooling_mode_max_tokens: true }, true, null, 64],
  'cls-mean': [{ word_embedding_dimension: 64, pooling_mode_cls_token: true, pooling_mode_mean_tokens: true }, false, null, 64],
  prompt: [
    { embedding_dimension: 64, pooling_mode: 'mean', include_prompt: false },
    true,
    { prompts: { query: 'query: ', doc: 'passage of text: ' }, default_prompt_name: 'query' },
    16,
  ],
};

export function sentenceTransformersFolder(root: string, name: string): string {
  const [pool, normalize, stConfig, maxSeqLength] = ST_FOLDERS[name]!;
  const dst = fixtureVariant(root, `st-${name}`, 'tiny-bert-model', {});
  const modules = [
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
  ];
  if (normalize) {
    modules.push({ idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' });
    mkdirSync(join(dst, '2_Normalize'));
  }
  writeFileSync(join(dst, 'modules.json'), JSON.stringify(modules));
  mkdirSync(join(dst, '1_Pooling'));
  writeFileSync(join(dst, '1_Pooling', 'config.json'), JSON.stringify(pool));
  writeFileSync(join(dst, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: maxSeqLength, do_lower_case: false }));
  if (stConfig) writeFileSync(join(dst, 'config_sentence_transformers.json'), JSON.stringify(stConfig));
  return dst;
}
