/**
 * The BERT-variant goldens (test/fixtures/variants, see its README): each case's inputs as the
 * model takes them and its transformers float64 outputs, compared on the tokens transformers
 * defines (attention mask 1).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BertModel, ModelOutput, Tensor } from '../../src-ts/index.js';
import { parseSafetensors } from '../../src-ts/weights/index.js';
import { fixture } from './fixtures.js';
import { toFloat64 } from './golden.js';

export const ATOL = 5e-5;

export interface VariantCase {
  name: string;
  inputsGiven: string[];
  forwardKwargs: Record<string, unknown>;
  inputIds: number[][] | number[][][];
  attentionMask: number[][] | number[][][];
  tokenTypeIds?: number[][] | number[][][];
  outputs: Map<string, { dims: number[]; data: Float64Array }>;
}

export interface VariantGolden {
  architecture: string;
  modelType: string;
  cases: VariantCase[];
}

export function variantDir(name: string): string {
  return fixture('variants', name);
}

export function loadVariantGolden(name: string): VariantGolden {
  const dir = variantDir(name);
  const meta = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8'));
  const tensors = parseSafetensors(readFileSync(join(dir, 'golden.safetensors')), 'golden.safetensors');
  const cases = meta.cases.map((c: any): VariantCase => {
    const outputs = new Map<string, { dims: number[]; data: Float64Array }>();
    for (const [k, t] of tensors) {
      const [cs, field] = k.split('/') as [string, string];
      if (cs !== c.name || ['input_ids', 'attention_mask', 'token_type_ids'].includes(field)) continue;
      outputs.set(field, { dims: t.dims, data: toFloat64(t) });
    }
    return {
      name: c.name,
      inputsGiven: c.inputs_given,
      forwardKwargs: c.forward_kwargs ?? {},
      inputIds: c.input_ids,
      attentionMask: c.attention_mask ?? c.input_ids.map((r: any) => (Array.isArray(r[0]) ? r.map((x: number[]) => x.map(() => 1)) : r.map(() => 1))),
      ...(c.token_type_ids ? { tokenTypeIds: c.token_type_ids } : {}),
      outputs,
    };
  });
  return { architecture: meta.architecture, modelType: meta.model_type, cases };
}

/** Runs one case through the public forward(), as transformers was called. */
export async function runCase(model: BertModel, c: VariantCase): Promise<ModelOutput> {
  const input: Record<string, unknown> = { inputIds: c.inputIds };
  if (c.inputsGiven.includes('attention_mask')) input.attentionMask = c.attentionMask;
  if (c.inputsGiven.includes('token_type_ids')) input.tokenTypeIds = c.tokenTypeIds;
  return model.forward(input as never, {
    outputHiddenStates: c.forwardKwargs.output_hidden_states === true,
    outputAttentions: c.forwardKwargs.output_attentions === true,
  });
}

const FIELDS: Record<string, keyof ModelOutput> = {
  last_hidden_state: 'lastHiddenState',
  pooler_output: 'poolerOutput',
  logits: 'logits',
  start_logits: 'startLogits',
  end_logits: 'endLogits',
  prediction_logits: 'predictionLogits',
  sop_logits: 'sopLogits',
  seq_relationship_logits: 'seqRelationshipLogits',
};

/** Our tensor for a golden field name ("hidden_states.2", "sop_logits", ...). */
export function ours(out: ModelOutput, field: string): Tensor | undefined {
  const m = /^(hidden_states|attentions)\.(\d+)$/.exec(field);
  if (m) return (m[1] === 'hidden_states' ? out.hiddenStates : out.attentions)?.[Number(m[2])];
  const key = FIELDS[field];
  return key ? (out[key] as Tensor | undefined) : undefined;
}

/**
 * Max abs difference where transformers' value is defined: per-token outputs ([rows, L, ...] with
 * rows = B or B·C) on tokens with mask 1; attentions on query rows with mask 1; others everywhere.
 */
export function maxDiff(field: string, got: Tensor, exp: { dims: number[]; data: Float64Array }, mask: number[][]): number {
  const rows = mask.length;
  const L = mask[0]!.length;
  const perToken = exp.dims.length >= 2 && exp.dims[0] === rows && exp.dims[1] === L;
  const attention = field.startsWith('attentions');
  let worst = 0;
  const n = exp.data.length;
  if (got.data.length !== n) return Infinity;
  for (let i = 0; i < n; i++) {
    if (attention) {
      // [rows, heads, L, L]: index -> (row, query)
      const q = Math.floor(i / L) % L;
      const r = Math.floor(i / (exp.dims[1]! * L * L));
      if (mask[r]![q] !== 1) continue;
    } else if (perToken) {
      const width = n / (rows * L);
      const tok = Math.floor(i / width);
      if (mask[Math.floor(tok / L)]![tok % L] !== 1) continue;
    }
    const d = Math.abs(got.data[i]! - exp.data[i]!);
    if (!(d <= worst)) worst = d;
  }
  return worst;
}

/** The case's mask as [rows][L] (multiple choice flattened to B·C rows). */
export function flatMask(c: VariantCase): number[][] {
  const m = c.attentionMask as unknown[];
  return Array.isArray((m[0] as unknown[])[0]) ? (m as number[][][]).flat() : (m as number[][]);
}
