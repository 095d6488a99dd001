/**
 * Every fixture model and case against its float64 golden. atol 5e-5: float32 compute lands
 * ~1e-6 from the goldens, and the smallest real bug the fixtures README lists (tanh instead of
 * erf GELU, a wrong LayerNorm eps) moves hidden states by >= 2.4e-4.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { loadModel, type ModelOutput } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { loadGolden, maxAbsDiff } from './helpers/golden.js';

const ATOL = 5e-5;
const index = JSON.parse(readFileSync(fixture('index.json'), 'utf8')) as { models: { name: string }[] };

// golden field -> where it is in our output, and whether it is per token
function pick(out: ModelOutput, field: string): { data: Float32Array; dims: number[]; perToken: boolean } | undefined {
  const perToken = (t: { data: Float32Array; dims: number[] } | undefined) => (t ? { ...t, perToken: true } : undefined);
  const perSeq = (t: { data: Float32Array; dims: number[] } | undefined) => (t ? { ...t, perToken: false } : undefined);
  if (field === 'last_hidden_state') return perToken(out.lastHiddenState);
  if (field === 'pooler_output') return perSeq(out.poolerOutput);
  if (field === 'prediction_logits') return perToken(out.predictionLogits);
  if (field === 'seq_relationship_logits') return perSeq(out.seqRelationshipLogits);
  if (field === 'start_logits') return perToken(out.startLogits);
  if (field === 'end_logits') return perToken(out.endLogits);
  if (field === 'logits') return out.logits && out.logits.dims.length === 2 && out.logits.dims[1] !== undefined && out.lastHiddenState.dims[1] !== out.logits.dims[1] ? perSeq(out.logits) : perToken(out.logits);
  const m = /^hidden_states\.(\d+)$/.exec(field);
  if (m) return perToken(out.hiddenStates?.[Number(m[1])]);
  return undefined;
}

for (const { name } of index.models) {
  test(`${name} matches its golden`, async (t) => {
    const golden = loadGolden(name);
    await using model = await loadModel(golden.modelDir, { device: 'cpu', threads: 2 });
    t.is(model.architecture, golden.architecture);
    let compared = 0;
    for (const c of golden.cases) {
      const input: Parameters<typeof model.forward>[0] = { inputIds: c.inputIds };
      if (c.attentionMaskGiven) input.attentionMask = c.attentionMask;
      if (c.tokenTypeIdsGiven) input.tokenTypeIds = c.tokenTypeIds;
      const out = await model.forward(input, { outputHiddenStates: name === 'tiny-bert-model' });
      for (const [field, expected] of c.outputs) {
        if (field.startsWith('sentence_embedding.')) continue; // pooling belongs to the pipelines
        const actual = pick(out, field);
        if (!actual) {
          t.fail(`${c.name}: no output for ${field}`);
          continue;
        }
        t.deepEqual(actual.dims, expected.dims, `${c.name}/${field} dims`);
        const diff = maxAbsDiff(actual.data, expected, actual.perToken ? c.attentionMask : null);
        t.true(diff <= ATOL, `${c.name}/${field}: max abs diff ${diff}`);
        compared++;
      }
    }
    t.true(compared >= golden.cases.length * 2);
  });
}
