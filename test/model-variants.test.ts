/**
 * Activations, attention probabilities and BertForMultipleChoice against goldens made by
 * transformers itself in float64 (test/data/models/make.py). Same tolerance as the fixtures:
 * 5e-5, while the tanh/erf GELU swap moves these models' hidden states by > 1e-4.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../src-ts/index.js';
import { repoRoot } from './helpers/fixtures.js';

const ATOL = 5e-5;
const dataDir = join(repoRoot, 'test', 'data', 'models');

interface GoldenCase {
  input_ids: number[][] | number[][][];
  attention_mask: number[][] | number[][][];
  token_type_ids: number[][] | number[][][];
  outputs: Record<string, { dims: number[]; data: number[] }>;
}
const golden = (name: string): GoldenCase[] => JSON.parse(readFileSync(join(dataDir, name, 'golden.json'), 'utf8')).cases;

/** Max abs diff over [B, L, ...] entries whose token (b, i) has mask 1. */
function diffPerToken(actual: Float32Array, expected: { dims: number[]; data: number[] }, mask: number[][]): number {
  const [B, L] = expected.dims as [number, number];
  const width = expected.data.length / (B * L);
  let worst = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const tok = Math.floor(i / width);
    if (mask[Math.floor(tok / L)]![tok % L] !== 1) continue;
    const d = Math.abs(actual[i]! - expected.data[i]!);
    if (!(d <= worst)) worst = d;
  }
  return worst;
}

for (const [name, act] of [['bert-gelu', 'gelu'], ['bert-gelu-new', 'gelu_new'], ['bert-relu', 'relu']] as const) {
  test(`${name}: hidden_act ${act}, hidden states and attentions match transformers`, async (t) => {
    await using model = await loadModel(join(dataDir, name), { device: 'cpu', threads: 2 });
    t.is(model.config.hidden_act, act);
    for (const c of golden(name)) {
      const mask = c.attention_mask as number[][];
      const out = await model.forward(
        { inputIds: c.input_ids as number[][], attentionMask: mask, tokenTypeIds: c.token_type_ids as number[][] },
        { outputHiddenStates: true, outputAttentions: true },
      );
      t.true(diffPerToken(out.lastHiddenState.data, c.outputs.last_hidden_state!, mask) <= ATOL, 'last_hidden_state');
      const pooler = c.outputs.pooler_output!;
      t.true(pooler.data.every((v, i) => Math.abs(v - out.poolerOutput!.data[i]!) <= ATOL), 'pooler_output (left-padded row included)');
      t.is(out.hiddenStates!.length, model.config.num_hidden_layers + 1);
      t.is(out.attentions!.length, model.config.num_hidden_layers);
      for (let l = 0; l <= model.config.num_hidden_layers; l++) {
        const d = diffPerToken(out.hiddenStates![l]!.data, c.outputs[`hidden_states.${l}`]!, mask);
        t.true(d <= ATOL, `hidden_states.${l}: ${d}`);
      }
      for (let l = 0; l < model.config.num_hidden_layers; l++) {
        const exp = c.outputs[`attentions.${l}`]!;
        const got = out.attentions![l]!;
        t.deepEqual(got.dims, exp.dims);
        const [B, heads, L] = exp.dims as [number, number, number];
        let worst = 0;
        for (let b = 0; b < B; b++)
          for (let h = 0; h < heads; h++)
            for (let i = 0; i < L; i++) {
              if (mask[b]![i] !== 1) continue; // rows of padded queries are unspecified
              for (let j = 0; j < L; j++) {
                const k = ((b * heads + h) * L + i) * L + j;
                worst = Math.max(worst, Math.abs(got.data[k]! - exp.data[k]!));
              }
            }
        t.true(worst <= 1e-5, `attentions.${l}: ${worst}`);
      }
    }
  });
}

test('BertForMultipleChoice: [batch][choices][length] in, logits [batch, choices] out', async (t) => {
  await using model = await loadModel(join(dataDir, 'bert-multiple-choice'), { device: 'cpu', threads: 1 });
  t.is(model.architecture, 'BertForMultipleChoice');
  const [c] = golden('bert-multiple-choice');
  const out = await model.forward({
    inputIds: c!.input_ids as number[][][],
    attentionMask: c!.attention_mask as number[][][],
    tokenTypeIds: c!.token_type_ids as number[][][],
  });
  t.deepEqual(out.logits!.dims, c!.outputs.logits!.dims);
  const worst = Math.max(...c!.outputs.logits!.data.map((v, i) => Math.abs(v - out.logits!.data[i]!)));
  t.true(worst <= ATOL, `logits: ${worst}`);
});
