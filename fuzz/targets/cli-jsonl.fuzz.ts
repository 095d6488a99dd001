/**
 * The CLI's JSON Lines input (`bertkit tokenize --input-format jsonl`, stdin): every input ends
 * in output, a usage error (exit 2) or a typed error (exit 1, "Name (ERR_...)"), never a stack.
 */
import { Readable, Writable } from 'node:stream';
import { runCli } from '../../src-ts/cli/app.js';
import { commands } from '../../src-ts/cli/commands/index.js';
import { assert } from '../check.js';
import { fixture } from '../seeds.js';

export const dict = 'jsonl.dict';
export const maxLen = 1 << 16;

const model = fixture('tiny-bert-model');

export function seeds(): Buffer[] {
  return [
    '{"text":"Hello world"}\n{"text":"a pair","text_pair":"second"}\n',
    '"just a string"\n["text","pair"]\n',
    '{"inputs":"x"}\n\n{"text":""}\n',
    '\ufeff{"text":"bom"}\r\n{"text":123}\n',
  ].map((s) => Buffer.from(s));
}

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

export async function fuzz(data: Buffer): Promise<void> {
  const stdout = new Sink();
  const stderr = new Sink();
  const args = ['tokenize', '--model', model, '--input-format', 'jsonl', '--format', 'jsonl'];
  if (data.length && data[0]! & 1) args.push('--max-length', String(data[0]! >> 1));
  const code = await runCli(args, commands, { stdin: Readable.from([data]), stdout, stderr });
  assert(code === 0 || code === 1 || code === 2, `exit code ${code}`);
  if (code === 1) assert(/^bertkit tokenize: \w+ \(ERR_[A-Z_]+\): /.test(stderr.text), `untyped failure: ${stderr.text.slice(0, 500)}`);
  if (code === 0) for (const line of stdout.text.split('\n')) if (line) JSON.parse(line);
}
