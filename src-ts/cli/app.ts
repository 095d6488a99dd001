/**
 * `bertkit <command>`: the command table, option parsing (node:util parseArgs), help, and the
 * context every command runs with (model resolution with a download bar, inputs, output writer).
 */
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { BertError } from '../errors.js';
import { resolveModel, type HubOptions } from '../hub/index.js';
import type { ComputeDType } from '../model/bert-model.js';
import { VERSION } from '../index.js';
import { inBatches, jsonlWriter, readInputs, tableWriter, type Column, type Input, type InputFormat, type OutputFormat, type Writer } from './io.js';
import { ProgressBar, type ProgressStream } from './progress.js';
import { InputError, UsageError, nonNegativeInt, oneOf, positiveInt } from './usage.js';
import { camelCase, suggestName } from '../options.js';

export interface CliIO {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & ProgressStream;
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** What the value is, for --help ('DIR', 'N'). */
  value?: string;
  description: string;
}

export type Options = Record<string, OptionSpec>;

export interface Command {
  name: string;
  summary: string;
  /** Lines after `bertkit NAME` in --help: arguments, then examples. */
  usage: string[];
  options: Options;
  run(ctx: Context): Promise<void>;
}

export const HUB_OPTIONS: Options = {
  revision: { type: 'string', value: 'REV', description: 'branch, tag or commit of a Hub model (default main)' },
  'cache-dir': { type: 'string', value: 'DIR', description: 'Hugging Face cache (default HF_HUB_CACHE, $HF_HOME/hub)' },
  offline: { type: 'boolean', description: 'use only the cache, never the network (as HF_HUB_OFFLINE=1)' },
  token: { type: 'string', value: 'TOKEN', description: 'Hub access token (default HF_TOKEN)' },
};

export const MODEL_OPTIONS: Options = {
  model: { type: 'string', short: 'm', value: 'ID|DIR', description: 'model folder or Hugging Face Hub id (org/name)' },
  device: { type: 'string', value: 'DEV', description: 'auto, cpu or cuda (default auto)' },
  dtype: { type: 'string', value: 'TYPE', description: 'compute type: float32 (fp32, the default), bfloat16 (bf16), int8, or float16 (fp16, CUDA)' },
  threads: { type: 'string', value: 'N', description: 'CPU threads (default 0: all cores)' },
  ...HUB_OPTIONS,
};

export const INPUT_OPTIONS: Options = {
  input: { type: 'string', short: 'i', multiple: true, value: 'FILE', description: "read inputs from FILE ('-': stdin); repeatable" },
  'input-format': { type: 'string', value: 'FMT', description: 'text (one input a line) or jsonl (default: jsonl for *.jsonl files)' },
  'batch-size': { type: 'string', short: 'b', value: 'N', description: 'inputs per forward (default 32)' },
  format: { type: 'string', short: 'f', value: 'FMT', description: 'jsonl or table (default: table on a terminal, else jsonl)' },
};

const GENERAL_OPTIONS: Options = {
  help: { type: 'boolean', short: 'h', description: 'show this help' },
  quiet: { type: 'boolean', short: 'q', description: 'no progress bar' },
};

/** Short names the CLI accepts for --dtype; the library checks what it names. */
const DTYPE_ALIASES: Record<string, string> = { fp32: 'float32', fp16: 'float16', bf16: 'bfloat16' };

export class Context {
  readonly command: Command;
  readonly io: CliIO;
  readonly positionals: string[];
  readonly #values: Record<string, string | boolean | string[] | undefined>;
  /** Inputs that failed (each reported where it came from); the exit code is 1 when there are any. */
  failures = 0;
  inputsSeen = 0;

  constructor(command: Command, values: Record<string, string | boolean | string[] | undefined>, positionals: string[], io: CliIO) {
    this.command = command;
    this.#values = values;
    this.positionals = positionals;
    this.io = io;
  }

  str(name: string): string | undefined {
    const v = this.#values[name];
    return typeof v === 'string' ? v : undefined;
  }

  flag(name: string): boolean {
    return this.#values[name] === true;
  }

  list(name: string): string[] {
    const v = this.#values[name];
    return Array.isArray(v) ? v : [];
  }

  progress(label: string, unit: 'bytes' | 'items' = 'items'): ProgressBar {
    return new ProgressBar(this.io.stderr, label, { unit, enabled: this.flag('quiet') ? false : undefined });
  }

  hubOptions(): HubOptions {
    const options: HubOptions = {};
    if (this.str('revision') !== undefined) options.revision = this.str('revision');
    if (this.str('cache-dir') !== undefined) options.cacheDir = this.str('cache-dir');
    if (this.str('token') !== undefined) options.token = this.str('token');
    if (this.flag('offline')) options.localFilesOnly = true;
    return options;
  }

  /** The local folder of `id` (a folder, or a Hub id downloaded into the cache with a progress bar). */
  async resolve(id: string): Promise<string> {
    const bar = this.progress(`downloading ${id}`, 'bytes');
    try {
      return await resolveModel(id, { ...this.hubOptions(), onProgress: (p) => bar.update(p.loaded, p.total) });
    } finally {
      bar.finish();
    }
  }

  /** --model, resolved to a folder. */
  async modelDir(): Promise<string> {
    const model = this.str('model');
    if (model === undefined) throw new UsageError('--model ID|DIR is required');
    return this.resolve(model);
  }

  device(): 'auto' | 'cpu' | 'cuda' | undefined {
    return oneOf(this.str('device'), 'device', ['auto', 'cpu', 'cuda'] as const);
  }

  threads(): number | undefined {
    const t = this.str('threads');
    return t === undefined ? undefined : nonNegativeInt(t, 'threads', 0);
  }

  /** --dtype as the library names it ('float32', 'bfloat16', 'int8'...); loadModel refuses what it cannot run. */
  dtype(): ComputeDType | undefined {
    const d = this.str('dtype')?.toLowerCase();
    return d === undefined ? undefined : ((DTYPE_ALIASES[d] ?? d) as ComputeDType);
  }

  batchSize(fallback = 32): number {
    return positiveInt(this.str('batch-size'), 'batch-size', fallback);
  }

  /** Inputs from the positional arguments (from `argsFrom` on), --input files, or stdin. */
  inputs(argsFrom = 0, defaultFormat: InputFormat = 'text'): AsyncGenerator<Input> {
    return readInputs({
      defaultFormat,
      args: this.positionals.slice(argsFrom),
      files: this.list('input'),
      format: oneOf(this.str('input-format'), 'input-format', ['text', 'jsonl'] as const) as InputFormat | undefined,
      stdin: this.io.stdin,
      onInteractive: () => this.io.stderr.write('reading inputs from the terminal, one a line (Ctrl-D ends)\n'),
    });
  }

  /** Inputs in batches of --batch-size (default `fallback`), with a progress bar counting them. */
  async *batches(argsFrom = 0, fallback = 32, defaultFormat: InputFormat = 'text'): AsyncGenerator<Input[]> {
    const size = this.batchSize(fallback);
    const bar = this.progress(this.command.name);
    const known = this.list('input').length === 0 && this.positionals.length > argsFrom ? this.positionals.length - argsFrom : undefined;
    let done = 0;
    try {
      for await (const batch of inBatches(this.inputs(argsFrom, defaultFormat), size)) {
        yield batch;
        done += batch.length;
        bar.update(done, known);
      }
    } finally {
      bar.finish();
    }
  }

  /**
   * Runs `fn` on a batch of inputs. When the batch fails on bad input, each input runs alone, so
   * good inputs still give their results and each bad one an error record naming its line
   * (`{"input": "stdin:41", "error": {...}}` in JSON Lines, a line on stderr in a table); the
   * command goes on and exits 1 at the end. Other errors stop the command.
   */
  async eachInput<T>(
    batch: readonly Input[],
    fn: (inputs: readonly Input[]) => Promise<T[]>,
    write: (input: Input, result: T, index: number) => Promise<void>,
    out: Writer,
  ): Promise<void> {
    this.inputsSeen += batch.length;
    let results: T[] | undefined;
    try {
      results = await fn(batch);
    } catch (err) {
      if (!perInputError(err)) throw err;
      if (batch.length === 1) {
        await this.#fail(batch[0]!, err as Error, out);
        return;
      }
    }
    if (results) {
      for (let i = 0; i < batch.length; i++) await write(batch[i]!, results[i]!, i);
      return;
    }
    for (let i = 0; i < batch.length; i++) {
      const input = batch[i]!;
      let one: T[];
      try {
        one = await fn([input]);
      } catch (err) {
        if (!perInputError(err)) throw err;
        await this.#fail(input, err as Error, out);
        continue;
      }
      await write(input, one[0]!, i);
    }
  }

  async #fail(input: Input, err: Error, out: Writer): Promise<void> {
    this.failures++;
    // The pipeline numbers inputs within the batch it got; the line says which one it is.
    let message = err.message.replace(/^input \d+ /, 'the input ');
    if (message.startsWith(`${input.where}: `)) message = message.slice(input.where.length + 2);
    if (this.command.options['truncate']) message = message.replace(/pass tokenizeOptions: \{ truncation: true \}/, 'add --truncate');
    const code = (err as { code?: string }).code ?? 'ERR_CLI_INPUT';
    if (this.outputFormat() === 'jsonl') await out.write({ input: input.where, error: { name: err.name, code, message } });
    this.io.stderr.write(`bertkit ${this.command.name}: ${input.where}: ${err.name} (${code}): ${message}\n`);
  }

  outputFormat(): OutputFormat {
    return oneOf(this.str('format'), 'format', ['jsonl', 'table'] as const, this.io.stdout.isTTY ? 'table' : 'jsonl');
  }

  /** A writer for --format: JSON Lines, or a table with these columns. */
  writer(columns: readonly Column[], cells: (record: unknown) => string[]): Writer {
    return this.outputFormat() === 'table' ? tableWriter(this.io.stdout, columns, cells) : jsonlWriter(this.io.stdout);
  }
}

/** parseArgs' unknown-option message, with the option meant (`--top_k` → `--top-k`). */
function unknownOptionMessage(err: Error & { code?: string }, known: readonly string[]): string {
  const m = err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /Unknown option '(-{1,2}([^']+))'/.exec(err.message) : null;
  if (!m) return err.message;
  const name = m[2]!;
  const kebab = name.replace(/_/g, '-').replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
  const meant = known.includes(kebab) ? kebab : suggestName(camelCase(kebab), known.map((k) => camelCase(k)));
  const option = meant === undefined ? undefined : known.find((k) => camelCase(k) === meant || k === meant);
  return `unknown option ${m[1]}${option ? `; did you mean --${option}?` : ''}`;
}

/** Errors that belong to one input (it is too long, malformed): reported, and the others go on. */
function perInputError(err: unknown): boolean {
  return err instanceof InputError || (err instanceof BertError && err.code === 'ERR_INVALID_INPUT');
}

/** A command's options and the general ones; a general option gives up a short name the command uses (rerank's -q is --query). */
function allOptions(command: Command): Options {
  const shorts = new Set(Object.values(command.options).map((o) => o.short).filter((x) => x !== undefined));
  const general = Object.fromEntries(
    Object.entries(GENERAL_OPTIONS).map(([k, o]) => [k, o.short && shorts.has(o.short) ? { ...o, short: undefined } : o]),
  );
  return { ...command.options, ...general };
}

function helpText(command: Command): string {
  const options = allOptions(command);
  const rows = Object.entries(options).map(([name, o]) => [`${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`, o.description]);
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return [
    `bertkit ${command.name}: ${command.summary}`,
    '',
    ...command.usage.map((u) => (u === '' ? '' : `  ${u}`)),
    '',
    'Options:',
    ...rows.map(([a, b]) => `  ${a!.padEnd(width)}  ${b}`),
    '',
  ].join('\n');
}

function mainHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `bertkit ${VERSION}: BERT models from Hugging Face checkpoints, in Node.js`,
    '',
    'Usage: bertkit <command> [options] [inputs...]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Inputs come from the arguments, --input files or stdin (one a line, or JSON Lines); results',
    'go to stdout as JSON Lines, or as a table on a terminal. `bertkit <command> --help` for more.',
    '',
  ].join('\n');
}

/** Runs the CLI on `argv` (without node and the script); resolves to the exit code. */
export async function runCli(argv: readonly string[], commands: readonly Command[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(mainHelp(commands));
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const command = commands.find((c) => c.name === rest[0]);
    io.stdout.write(command ? helpText(command) : mainHelp(commands));
    return 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`bertkit: unknown command ${JSON.stringify(name)}\n\n${mainHelp(commands)}`);
    return 2;
  }
  try {
    const options = Object.fromEntries(
      Object.entries(allOptions(command)).map(([k, o]) => [
        k,
        { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) },
      ]),
    );
    let parsed;
    try {
      parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
    } catch (err) {
      throw new UsageError(unknownOptionMessage(err as Error & { code?: string }, Object.keys(options)));
    }
    if (parsed.values.help) {
      io.stdout.write(helpText(command));
      return 0;
    }
    const ctx = new Context(command, parsed.values as Record<string, string | boolean | string[] | undefined>, parsed.positionals, io);
    await command.run(ctx);
    if (ctx.failures > 0) {
      io.stderr.write(`bertkit ${command.name}: ${ctx.failures} of ${ctx.inputsSeen} inputs failed (see the error records)\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`bertkit ${command.name}: ${err.message}\n(see bertkit ${command.name} --help)\n`);
      return 2;
    }
    if (err instanceof BertError) {
      io.stderr.write(`bertkit ${command.name}: ${err.name} (${err.code}): ${err.message}\n`);
      return 1;
    }
    if ((err as NodeJS.ErrnoException)?.code === 'EPIPE') return 0; // the reader went away (| head)
    io.stderr.write(`bertkit ${command.name}: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}
