/**
 * A corpus through the queue: rows in fixed chunks (chunk k = rows [k·size, (k+1)·size), so a
 * re-run makes the same chunks and the same job ids), a bounded number of jobs in flight, results
 * written in input order to `<output>.partial` as they come, renamed to `<output>` at the end.
 *
 * Interrupted (Ctrl-C, a crash, SIGKILL), a run resumes: the complete lines of the partial file are
 * rows done and are not submitted again; chunks that finished on the workers meanwhile are still
 * in Redis under their ids and are read back, not recomputed. A chunk's job is deleted from Redis
 * once its rows are on disk, so Redis holds only what is in flight.
 *
 * A job that fails on some rows (the worker names them) gives those rows error records, and the
 * chunk's other rows go again as a smaller job; a job that fails as a whole fails all its rows.
 */
import { open, readFile, stat, truncate } from 'node:fs/promises';
import { BertError, InvalidInputError, JobFailedError } from '../errors.js';
import { commitFile, fsError } from '../util/atomic-file.js';
import type { JobClient } from './client.js';
import { decodeVectors, jobIdFor, type JobData, type JobResult, type QueueTask, type VectorEncoding } from './protocol.js';

export interface CorpusRow {
  value: unknown;
  /** Where the row came from ('corpus.jsonl:17'), for error records. */
  where: string;
}

export interface CorpusError {
  where: string;
  name: string;
  code: string;
  message: string;
}

export interface CorpusProgress {
  /** Rows on disk (results and error records), resumed ones included. */
  rows: number;
  failed: number;
  /** Rows found done in the partial file at the start. */
  resumed: number;
  jobsInFlight: number;
}

export interface CorpusOptions {
  client: JobClient;
  task: QueueTask;
  rows: AsyncIterable<CorpusRow>;
  /** The output file (JSON Lines, one record per row). */
  output: string;
  /** Rows per job (default 64). */
  chunkSize?: number;
  /** Jobs submitted and not yet written (default 16): bounds memory and Redis. */
  maxInFlight?: number;
  /** The task's options for every job. */
  options?: Record<string, unknown>;
  /** embed: vectors over the wire (default float32). */
  encoding?: VectorEncoding;
  /** The row's job input; throwing makes it an error record without a job. */
  toInput?: (row: CorpusRow) => unknown;
  /** The output record of a row and its result (a Float32Array for embed). */
  record: (row: CorpusRow, input: unknown, result: unknown) => unknown;
  onProgress?: (p: CorpusProgress) => void;
  /** Told once per row that failed. */
  onError?: (e: CorpusError) => void;
}

export interface CorpusSummary {
  rows: number;
  failed: number;
  resumed: number;
  jobs: number;
}

interface Item {
  row: CorpusRow;
  input: unknown;
}

function errorRecord(row: CorpusRow, err: unknown): { record: unknown; error: CorpusError } {
  let error: CorpusError;
  if (err instanceof JobFailedError) error = { where: row.where, name: err.remoteName, code: err.remoteCode, message: err.message.replace(/^job \S+ failed: \w+ \([A-Z0-9_]+\): /, '') };
  else {
    const e = err as { name?: string; code?: string; message?: string };
    error = { where: row.where, name: e?.name ?? 'Error', code: typeof e?.code === 'string' ? e.code : 'ERR_INVALID_INPUT', message: e?.message ?? String(err) };
  }
  return { record: { input: row.where, error: { name: error.name, code: error.code, message: error.message } }, error };
}

/** Complete lines of a partial output (a torn last line is cut off); 0 when there is none. */
async function resumePoint(partial: string): Promise<number> {
  let text: Buffer;
  try {
    text = await readFile(partial);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw fsError(err, partial, 'read');
  }
  const end = text.lastIndexOf(0x0a) + 1;
  if (end < text.length) await truncate(partial, end);
  let lines = 0;
  for (let i = 0; i < end; i++) if (text[i] === 0x0a) lines++;
  return lines;
}

export async function runCorpus(o: CorpusOptions): Promise<CorpusSummary> {
  const size = o.chunkSize ?? 64;
  const maxInFlight = o.maxInFlight ?? 16;
  if (!Number.isSafeInteger(size) || size < 1) throw new InvalidInputError(`runCorpus(): chunkSize must be a positive integer, got ${size}`);
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) throw new InvalidInputError(`runCorpus(): maxInFlight must be a positive integer, got ${maxInFlight}`);
  const partial = `${o.output}.partial`;
  const resumed = await resumePoint(partial);
  const fh = await open(partial, 'a').catch((err) => {
    throw fsError(err, partial, 'write');
  });
  let rows = resumed;
  let failed = 0;
  let jobs = 0;
  const inFlight: Promise<unknown[]>[] = [];
  const progress = () => o.onProgress?.({ rows, failed, resumed, jobsInFlight: inFlight.length });

  /** One job for `items`; rows the worker blames are reported and the others go again. */
  const runItems = async (items: Item[]): Promise<unknown[]> => {
    if (items.length === 0) return [];
    const data: JobData = { v: 1, task: o.task, inputs: items.map((x) => x.input), ...(o.options ? { options: o.options } : {}), ...(o.encoding ? { encoding: o.encoding } : {}) };
    const id = jobIdFor(data);
    jobs++;
    let result: JobResult;
    try {
      result = await o.client.run(data);
    } catch (err) {
      if (!(err instanceof JobFailedError)) throw err;
      const bad = new Set(err.rows.filter((r) => r >= 0 && r < items.length));
      // No row named (or all of them): the whole job failed.
      if (bad.size === 0 || bad.size === items.length) return items.map((x) => fail(x.row, err));
      const rest = await runItems(items.filter((_, i) => !bad.has(i)));
      await o.client.forget(id).catch(() => {});
      let k = 0;
      return items.map((x, i) => (bad.has(i) ? fail(x.row, err) : rest[k++]));
    }
    await o.client.forget(id).catch(() => {});
    const values = result.vectors ? decodeVectors(result.vectors, result.rows) : result.results!;
    if (values.length !== items.length) throw new BertError(`job ${id} returned ${values.length} results for ${items.length} inputs`);
    return items.map((x, i) => o.record(x.row, x.input, values[i]));
  };

  const fail = (row: CorpusRow, err: unknown): unknown => {
    const { record, error } = errorRecord(row, err);
    failed++;
    o.onError?.(error);
    return record;
  };

  /** A chunk: rows that cannot be inputs fail here, the others go as one job; `skip` rows were done before. */
  const runChunk = async (chunk: CorpusRow[], skip: number): Promise<unknown[]> => {
    const items: Item[] = [];
    const local = new Map<number, unknown>();
    chunk.forEach((row, i) => {
      try {
        items.push({ row, input: o.toInput ? o.toInput(row) : row.value });
      } catch (err) {
        if (i >= skip) local.set(i, err);
      }
    });
    const results = await runItems(items);
    const out: unknown[] = [];
    let k = 0;
    chunk.forEach((row, i) => {
      const r = local.has(i) ? fail(row, local.get(i)) : results[k++];
      if (i >= skip) out.push(r);
    });
    return out;
  };

  const writeHead = async (): Promise<void> => {
    const records = await inFlight[0]!;
    inFlight.shift();
    if (records.length) await fh.write(records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    rows += records.length;
    progress();
  };

  let closed = false;
  try {
    let index = 0;
    let chunk: CorpusRow[] = [];
    let chunkStart = 0;
    const flush = async () => {
      const skip = Math.max(0, resumed - chunkStart);
      if (skip < chunk.length) {
        const p = runChunk(chunk, skip);
        p.catch(() => {}); // awaited in order by writeHead
        inFlight.push(p);
        if (inFlight.length >= maxInFlight) await writeHead();
      }
      chunk = [];
    };
    for await (const row of o.rows) {
      if (chunk.length === 0) chunkStart = index;
      chunk.push(row);
      index++;
      if (chunk.length === size) await flush();
    }
    if (chunk.length) await flush();
    while (inFlight.length) await writeHead();
    await fh.close();
    closed = true;
    if (index < resumed) throw new InvalidInputError(`${partial} holds ${resumed} rows but the input has only ${index}: is it the partial output of another input? Delete it to start over`);
    await commitFile(partial, o.output);
  } finally {
    if (!closed) await fh.close().catch(() => {});
  }
  progress();
  return { rows, failed, resumed, jobs };
}

/** Whether `output`'s partial file exists (a run to resume). */
export async function hasPartialOutput(output: string): Promise<boolean> {
  return stat(`${output}.partial`).then(
    () => true,
    () => false,
  );
}
