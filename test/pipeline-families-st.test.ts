/**
 * sentence-embeddings and rerank on XLM-RoBERTa, the base of the multilingual embedders and
 * rerankers, against sentence-transformers (test/data/families/make_st_refs.py): a
 * SentenceTransformer folder (mean pooling + Normalize) over the xlmr-model fixture, and a
 * one-label CrossEncoder cut from xlmr-seqcls-f16.
 */
import test from 'ava';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from '../src-ts/index.js';
import { parseSafetensors } from '../src-ts/weights/index.js';
import { fixture, repoRoot } from './helpers/fixtures.js';
import { maxDiff, sameScoredList, camelKeys } from './pipeline-helpers.js';
import { tempDir } from './pipeline-variants.js';

const data = join(repoRoot, 'test', 'data', 'families');
const refs = JSON.parse(readFileSync(join(data, 'st_references.json'), 'utf8'));
const withoutGoldens = (src: string): boolean => !/golden\.(json|safetensors)$/.test(src);

test('sentence-embeddings: a sentence-transformers folder on XLM-RoBERTa (mean pooling, normalized)', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const dir = join(tmp.dir, 'st-xlmr-mean');
  cpSync(join(data, 'st-xlmr-mean'), dir, { recursive: true });
  mkdirSync(join(dir, '2_Normalize'));
  cpSync(fixture('variants', 'xlmr-model'), dir, { recursive: true, filter: withoutGoldens });
  await using st = await pipeline('sentence-embeddings', dir, { threads: 1 });
  t.deepEqual(st.settings.pooling, ['mean']);
  t.true(st.settings.normalize);
  const out = await st(refs.sentence_embeddings.texts, { batchSize: 2 });
  const d = maxDiff(out, refs.sentence_embeddings.embeddings);
  t.true(d < 1e-5, `max diff ${d}`);
});

test('rerank: a one-label XLM-RoBERTa cross-encoder, as CrossEncoder.rank', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const dir = join(tmp.dir, 'ce-xlmr');
  cpSync(fixture('variants', 'xlmr-seqcls-f16'), dir, { recursive: true, filter: withoutGoldens });
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 } }));
  // classifier.out_proj cut to its first row: [1, H] and [1] (F16, 2 bytes a value).
  const bytes = readFileSync(join(dir, 'model.safetensors'));
  const tensors = parseSafetensors(bytes, 'model.safetensors');
  const header: Record<string, unknown> = {};
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of tensors) {
    let { dims, data: raw } = tensor;
    if (name === 'classifier.out_proj.weight') [dims, raw] = [[1, dims[1]!], raw.subarray(0, dims[1]! * 2)];
    if (name === 'classifier.out_proj.bias') [dims, raw] = [[1], raw.subarray(0, 2)];
    header[name] = { dtype: tensor.dtype, shape: dims, data_offsets: [offset, offset + raw.length] };
    parts.push(raw);
    offset += raw.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([len, json, ...parts]));
  await using rr = await pipeline('rerank', dir, { threads: 1 });
  const ranked = await rr(refs.rerank.query, refs.rerank.documents);
  sameScoredList(t, ranked, camelKeys(refs.rerank.ranked), 'rank');
});
