/**
 * Inputs and outputs of the CLI: inputs from arguments, files or stdin, as text lines or JSON
 * Lines; results as JSON Lines or a table.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { UsageError } from './usage.js';

export type InputFormat = 'text' | 'jsonl';

export interface Input {
  /** A text line (string), or a JSON Lines value. */
  value: unknown;
  /** 'argument 2', 'inputs.jsonl:7', 'stdin:3': for error messages. */
  where: string;
}

export interface InputSources {
  /** Each one input (text). */
  args: readonly string[];
  /** Files to read; '-' is stdin. Inputs from stdin when there are no arguments and no files. */
  files: readonly string[];
  /** Default: 'jsonl' for files named *.jsonl / *.ndjson, else `defaultFormat`. */
  format: InputFormat | undefined;
  /** Default 'text'; 'jsonl' where a plain line cannot be an input. */
  defaultFormat?: InputFormat;
  stdin: Readable & { isTTY?: boolean };
  /** Told when stdin is a terminal (the user must type inputs, Ctrl-D ends). */
  onInteractive?: () => void;
}

/** Every input in order: arguments, then each file, then stdin. Blank lines are skipped. */
export async function* readInputs(src: InputSources): AsyncGenerator<Input> {
  for (let i = 0; i < src.args.length; i++) yield { value: src.args[i], where: `argument ${i + 1}` };
  const files = src.files.length === 0 && src.args.length === 0 ? ['-'] : src.files;
  for (const file of files) {
    const stdin = file === '-';
    if (stdin && src.stdin.isTTY) src.onInteractive?.();
    const format = src.format ?? (/\.(jsonl|ndjson)$/i.test(file) ? 'jsonl' : (src.defaultFormat ?? 'text'));
    const stream = stdin ? src.stdin : createReadStream(file, { encoding: 'utf8' });
    const name = stdin ? 'stdin' : file;
    if (!stdin) {
      // Fail on a missing file before any output (readline would end silently).
      await new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve());
        stream.once('error', (err: NodeJS.ErrnoException) => reject(new UsageError(`cannot read ${file}: ${err.code ?? err.message}`)));
      });
    } else {
      stream.setEncoding('utf8');
    }
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    let n = 0;
    for await (let line of lines) {
      n++;
      if (n === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
      if (line.trim() === '') continue;
      const where = `${name}:${n}`;
      if (format === 'text') {
        yield { value: line, where };
        continue;
      }
      try {
        yield { value: JSON.parse(line), where };
      } catch (err) {
        if (err instanceof SyntaxError) throw new UsageError(`${where}: not JSON (${err.message}); use --input-format text for plain lines`);
        throw err;
      }
    }
  }
}

/**
 * Groups an async sequence into arrays of up to `size`. A partial batch goes when no item has come
 * for `flushMs` (so a slow pipe streams: each line is answered without waiting for `size` more).
 */
export async function* inBatches<T>(items: AsyncIterable<T>, size: number, flushMs = 50): AsyncGenerator<T[]> {
  const it = items[Symbol.asyncIterator]();
  let batch: T[] = [];
  let pending: Promise<IteratorResult<T>> | null = null;
  try {
    for (;;) {
      pending ??= it.next();
      let r: IteratorResult<T> | 'idle';
      if (batch.length > 0) {
        let timer: NodeJS.Timeout | undefined;
        const idle = new Promise<'idle'>((resolve) => {
          timer = setTimeout(() => resolve('idle'), flushMs);
        });
        r = await Promise.race([pending, idle]);
        clearTimeout(timer);
      } else {
        r = await pending;
      }
      if (r === 'idle') {
        yield batch;
        batch = [];
        continue;
      }
      pending = null;
      if (r.done) break;
      batch.push(r.value);
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  } finally {
    // Stopped early (an error downstream): let the source close its files.
    if (pending === null) await it.return?.();
  }
}

export type OutputFormat = 'jsonl' | 'table';

export interface Column {
  header: string;
  align?: 'left' | 'right';
  /** Longest cell; longer ones end with '…' (default 60). */
  max?: number;
}

export interface Writer {
  write(record: unknown): Promise<void>;
  end(): Promise<void>;
}

async function put(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await new Promise<void>((resolve) => stream.once('drain', resolve));
}

/** One JSON document per line. */
export function jsonlWriter(stream: Writable): Writer {
  return {
    write: (record) => put(stream, `${JSON.stringify(record)}\n`),
    end: async () => {},
  };
}

/**
 * An aligned table. Rows are held back until 200 have come (or the end), so the column widths fit
 * the data; later rows are cut to those widths.
 */
export function tableWriter(stream: Writable, columns: readonly Column[], cells: (record: unknown) => string[]): Writer {
  let widths: number[] | undefined;
  let held: string[][] = [];
  const fit = (s: string, w: number) => (s.length > w ? `${s.slice(0, Math.max(w - 1, 0))}…` : s);
  const line = (row: string[]) =>
    row
      .map((cell, i) => {
        const s = fit(cell, widths![i]!);
        return columns[i]!.align === 'right' ? s.padStart(widths![i]!) : s.padEnd(widths![i]!);
      })
      .join('  ')
      .trimEnd();
  const flush = async () => {
    if (!widths) {
      widths = columns.map((c, i) => Math.min(Math.max(c.header.length, ...held.map((r) => (r[i] ?? '').length)), Math.max(c.max ?? 60, c.header.length)));
      await put(stream, `${line(columns.map((c) => c.header))}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
    }
    if (held.length) await put(stream, `${held.map(line).join('\n')}\n`);
    held = [];
  };
  return {
    async write(record) {
      held.push(cells(record).map((c) => c.replace(/\s+/g, ' ')));
      if (held.length >= 200) await flush();
    },
    end: flush,
  };
}

/** A number for a table cell: 4 significant decimals. */
export function num(x: number, digits = 4): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(digits);
}

/** Float32 values with the digits that identify them (9 significant), not their double expansion. */
export function floats(v: Float32Array): number[] {
  return Array.from(v, (x) => Number(x.toPrecision(9)));
}
