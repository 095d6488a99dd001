/**
 * Registers one test per fixture model: every case against its float64 golden. atol 5e-5:
 * float32 compute lands ~1e-6 from the goldens, and the smallest real bug the fixtures README
 * lists (tanh instead of erf GELU, a wrong LayerNorm eps) moves hidden states by >= 2.4e-4.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { loadModel, type ModelOutput, type Tensor } from '../../src-ts/index.js';
import { fixture } from './fixtures.js';
import { loadGolden, maxAbsDiff } from './golden.js';

const ATOL = 5e-5;
const index = JSON.parse(readFileSync(fixture('index.json'), 'utf8')) as { models: { name: string }[] };

/** The output a golden field names, and whether it is per token (compared where the mask is 1). */
function pick(out: ModelOutput, field: string): (Tensor & { perToken: boolean }) | undefined {
  const tok = (t: Tensor | undefined) => t && { ...t, perToken: true };
  const seq = (t: Tensor | undefined) => t && { ...t, perToken: false };
  switch (field) {
    case 'last_hidden_state': return tok(out.lastHiddenState);
    case 'pooler_output': return seq(out.poolerOutput);
    case 'prediction_logits': return tok(out.predictionLogits);
    case 'seq_relationship_logits': return seq(out.seqRelationshipLogits);
    case 'start_logits': return tok(out.startLogits);
    case 'end_logits': return tok(out.endLogits);
    // [B, L, vocab | labels] for MLM and token classification, [B, n] otherwise.
    case 'logits': return out.logits?.dims.length === 3 ? tok(out.logits) : seq(out.logits);
  }
  const m = /^hidden_states\.(\d+)$/.exec(field);
  return m ? tok(out.hiddenStates?.[Number(m[1])]) : undefined;
}

export function registerFixtureParity(opts: { isa?: string; threads?: number } = {}): void {
  for (const { name } of index.models) {
    test(`${name} matches its golden${opts.isa ? ` (${opts.isa} kernels)` : ''}`, async (t) => {
      const golden = loadGolden(name);
      await using model = await loadModel(golden.modelDir, { device: 'cpu', threads: opts.threads ?? 2 });
      t.is(model.architecture as string, golden.architecture);
      if (opts.isa) t.is(model.backend.isa, opts.isa);
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
}
