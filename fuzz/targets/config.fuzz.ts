/** config.json: what parseConfig accepts must be a consistent model; the rest a ConfigError. */
import { parseConfig } from '../../src-ts/config.js';
import { assert, typed } from '../check.js';
import { fixtureFiles } from '../seeds.js';

export const dict = 'config.dict';
export const maxLen = 1 << 14;

export function seeds(): Buffer[] {
  return fixtureFiles('config.json', 16);
}

export function fuzz(data: Buffer): void {
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch {
    return; // not JSON: readConfig's own error, before parseConfig
  }
  const c = typed(() => parseConfig(json));
  if (!c) return;
  for (const k of ['hidden_size', 'num_attention_heads', 'num_hidden_layers', 'intermediate_size', 'vocab_size', 'max_position_embeddings'] as const) {
    const v = (c as unknown as Record<string, unknown>)[k];
    assert(Number.isSafeInteger(v) && (v as number) > 0, `${k} = ${String(v)} accepted`);
  }
  assert(c.hidden_size % c.num_attention_heads === 0, 'hidden_size not a multiple of the heads accepted');
}
