/** vocab.txt with tokenizer_config.json (split at the first NUL byte), as a folder without tokenizer.json is loaded. */
import { tokenizerFromVocab } from '../../src-ts/tokenizer/index.js';
import { typed } from '../check.js';
import { fixtureFiles } from '../seeds.js';

export const dict = 'tokenizer.dict';
export const maxLen = 1 << 16;

export function seeds(): Buffer[] {
  const vocab = fixtureFiles('vocab.txt', 2);
  const configs = fixtureFiles('tokenizer_config.json', 4);
  return vocab.flatMap((v) => configs.map((c) => Buffer.concat([v, Buffer.from([0]), c])));
}

export function fuzz(data: Buffer): void {
  const cut = data.indexOf(0);
  const vocab = (cut < 0 ? data : data.subarray(0, cut)).toString('utf8');
  let tokenizerConfig: unknown = null;
  if (cut >= 0) {
    try {
      tokenizerConfig = JSON.parse(data.subarray(cut + 1).toString('utf8'));
    } catch {
      tokenizerConfig = null;
    }
  }
  const tok = typed(() => tokenizerFromVocab(vocab, { file: 'vocab.txt', tokenizerConfig: tokenizerConfig as never }));
  if (!tok) return;
  const enc = typed(() => tok.encode('Hello, wörld! [MASK] 東京 a\u0301', 'second part'));
  if (enc) typed(() => tok.decode(enc.ids));
}
