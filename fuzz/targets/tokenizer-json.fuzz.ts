/** tokenizer.json: a tokenizer built from it encodes and decodes without anything but typed errors. */
import { tokenizerFromJSON } from '../../src-ts/tokenizer/index.js';
import { typed } from '../check.js';
import { fixtureFiles } from '../seeds.js';

export const dict = 'tokenizer.dict';
export const maxLen = 1 << 16;

export function seeds(): Buffer[] {
  return [...fixtureFiles('tokenizer.json', 6), Buffer.from('{"version":"1.0","model":{"type":"WordPiece","vocab":{"[UNK]":0,"a":1}}}')];
}

export function fuzz(data: Buffer): void {
  const tok = typed(() => tokenizerFromJSON(data.toString('utf8'), { file: 'tokenizer.json' }));
  if (!tok) return;
  const enc = typed(() => tok.encode('Hello, wörld! [MASK] 東京 a\u0301', 'second part'));
  if (enc) typed(() => tok.decode(enc.ids));
}
