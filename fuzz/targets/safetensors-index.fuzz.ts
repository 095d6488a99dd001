/** model.safetensors.index.json: the weight map of a sharded checkpoint, read with its one shard. */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint } from '../../src-ts/weights/index.js';
import { typedAsync } from '../check.js';
import { fixture } from '../seeds.js';

export const dict = 'json.dict';
export const maxLen = 1 << 16;

const dir = mkdtempSync(join(tmpdir(), 'bertkit-fuzz-index-'));
copyFileSync(fixture('tiny-bert-model', 'model.safetensors'), join(dir, 'model-00001-of-00001.safetensors'));

export function seeds(): Buffer[] {
  const map = { 'bert.embeddings.word_embeddings.weight': 'model-00001-of-00001.safetensors', 'bert.pooler.dense.bias': 'model-00001-of-00001.safetensors' };
  return [
    Buffer.from(JSON.stringify({ metadata: { total_size: 561864 }, weight_map: map })),
    Buffer.from(JSON.stringify({ weight_map: { a: '../x.safetensors' } })),
    Buffer.from('{"weight_map":{}}'),
  ];
}

export async function fuzz(data: Buffer): Promise<void> {
  writeFileSync(join(dir, 'model.safetensors.index.json'), data);
  await typedAsync(() => readCheckpoint(dir));
}
