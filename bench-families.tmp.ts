import { createRandomBert, createRandomVariant, BERT_BASE, VARIANT_BASES } from './src-ts/cli/random-bert.js';
const B = 8, L = 128, rounds = Number(process.argv[2] ?? 7);
const types = ['bert', 'roberta', 'albert'];
const models: any = {};
for (const t of types) models[t] = t === 'bert' ? await createRandomBert(BERT_BASE, { threads: 2, tokenizer: false }) : await createRandomVariant(t, VARIANT_BASES[t]!.shape, { threads: 2, tokenizer: false });
let s = 7;
const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
const ids = Array.from({ length: B }, () => Array.from({ length: L }, () => 5 + Math.floor(rand() * 20000)));
const times: Record<string, number[]> = Object.fromEntries(types.map((t) => [t, []]));
for (const t of types) await models[t].forward({ inputIds: ids });
for (let r = 0; r < rounds; r++) for (const t of types) { const t0 = performance.now(); await models[t].forward({ inputIds: ids }); times[t]!.push(performance.now() - t0); }
const H = 768, I = 3072, layers = 12;
const flops = 2 * B * L * layers * (4 * H * H + 2 * H * I) + 2 * 2 * B * L * L * H * layers;
for (const t of types) { const v = [...times[t]!].sort((a, b) => a - b); const med = v[v.length >> 1]!; console.log(t, 'median ms', med.toFixed(0), 'min', v[0]!.toFixed(0), 'GFLOP/s', (flops / med / 1e6).toFixed(0)); }
