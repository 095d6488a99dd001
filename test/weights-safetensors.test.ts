import test from 'ava';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidFileError } from '../src-ts/errors.js';
import { DTYPE_SIZE, parseSafetensors, readCheckpoint, type RawTensor } from '../src-ts/weights/index.js';
import { fixture } from './helpers/fixtures.js';

/** A safetensors file from a raw header (any JSON value or string) and a data section of `dataLen` bytes. */
function st(header: unknown, dataLen = 0, headerLenOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const buf = new Uint8Array(8 + json.length + dataLen);
  new DataView(buf.buffer).setBigUint64(0, headerLenOverride ?? BigInt(json.length), true);
  buf.set(json, 8);
  return buf;
}

/** Writes tensors as safetensors, the way the Python library does (sorted, packed). */
function writeSafetensors(tensors: RawTensor[]): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let at = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.dims, data_offsets: [at, at + t.data.length] };
    at += t.data.length;
  }
  const buf = st(header, at);
  let o = buf.length - at;
  for (const t of tensors) {
    buf.set(t.data, o);
    o += t.data.length;
  }
  return buf;
}

function rejects(t: import('ava').ExecutionContext, buf: Uint8Array, message: RegExp) {
  const err = t.throws(() => parseSafetensors(buf, '/x/model.safetensors'), { instanceOf: InvalidFileError, message });
  t.is(err?.code, 'ERR_INVALID_FILE');
  t.is(err?.file, '/x/model.safetensors');
}

test('reads the F32 fixture: names, dims, zero-copy views into the file', async (t) => {
  const file = fixture('tiny-bert-model', 'model.safetensors');
  const buf = await readFile(file);
  const tensors = parseSafetensors(buf, file);
  t.is(tensors.size, 39);
  const word = tensors.get('embeddings.word_embeddings.weight')!;
  t.is(word.dtype, 'F32');
  t.deepEqual(word.dims, [1000, 64]);
  t.is(word.data.length, 1000 * 64 * 4);
  t.is(word.data.buffer, buf.buffer);
  // Row pad_token_id = 0 is all zeros (fixture README).
  t.true(word.data.subarray(0, 64 * 4).every((b) => b === 0));
  const ln = tensors.get('embeddings.LayerNorm.weight')!;
  const v = new DataView(ln.data.buffer, ln.data.byteOffset, ln.data.byteLength);
  for (let i = 0; i < 64; i++) {
    const x = v.getFloat32(i * 4, true);
    t.true(x >= 0.6 && x <= 1.4, `LayerNorm weight ${x} is U(0.6, 1.4)`);
  }
});

for (const [folder, dtype] of [
  ['tiny-bert-model-f16', 'F16'],
  ['tiny-bert-model-bf16', 'BF16'],
] as const) {
  test(`reads ${dtype} weights with their dims and byte sizes (${folder})`, async (t) => {
    const { tensors, format, files } = await readCheckpoint(fixture(folder));
    t.is(format, 'safetensors');
    t.deepEqual(files, [fixture(folder, 'model.safetensors')]);
    t.is(tensors.size, 39);
    for (const x of tensors.values()) {
      t.is(x.dtype, dtype);
      t.is(x.data.length, x.dims.reduce((n, d) => n * d, DTYPE_SIZE[dtype]));
    }
    t.deepEqual(tensors.get('encoder.layer.1.intermediate.dense.weight')!.dims, [128, 64]);
    t.deepEqual(tensors.get('encoder.layer.1.output.dense.weight')!.dims, [64, 128]);
  });
}

test('gamma-beta fixture keeps its stored names and its I64 position_ids', async (t) => {
  const { tensors } = await readCheckpoint(fixture('tiny-bert-gamma-beta'));
  t.truthy(tensors.get('embeddings.LayerNorm.gamma'));
  t.truthy(tensors.get('encoder.layer.0.output.LayerNorm.beta'));
  const pos = tensors.get('embeddings.position_ids')!;
  t.is(pos.dtype, 'I64');
  t.deepEqual(pos.dims, [1, 64]);
  const v = new DataView(pos.data.buffer, pos.data.byteOffset, pos.data.byteLength);
  t.deepEqual(Array.from({ length: 64 }, (_, i) => Number(v.getBigInt64(i * 8, true))), Array.from({ length: 64 }, (_, i) => i));
});

test('accepts empty tensors, __metadata__ and a file with no tensors', (t) => {
  t.is(parseSafetensors(st({}), 'f').size, 0);
  const m = parseSafetensors(
    st({ __metadata__: { a: 'b' }, e: { dtype: 'F32', shape: [0, 5], data_offsets: [0, 0] }, x: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, 2),
    'f',
  );
  t.deepEqual(m.get('e')!.dims, [0, 5]);
  t.is(m.get('e')!.data.length, 0);
  t.is(m.get('x')!.data.length, 2);
});

test('hostile: too short for the header length', (t) => rejects(t, new Uint8Array(5), /too short/));
test('hostile: header length beyond the file', (t) => rejects(t, st({}, 0, 1000n), /runs past the end of the file/));
test('hostile: header length over the 100 MB limit', (t) => rejects(t, st({}, 0, 1n << 62n), /exceeds/));
test('hostile: header is not JSON', (t) => rejects(t, st('{"a": '), /not UTF-8 JSON/));
test('hostile: header is not UTF-8', (t) => {
  const buf = st('{"\u00e9":1}');
  buf[10] = 0xff;
  rejects(t, buf, /not UTF-8 JSON/);
});
test('hostile: header is not an object', (t) => rejects(t, st([1, 2]), /not a JSON object/));
test('hostile: __metadata__ with a non-string value', (t) => rejects(t, st({ __metadata__: { a: 1 } }), /__metadata__/));
test('hostile: entry is not an object', (t) => rejects(t, st({ w: 3 }), /not an object/));
test('hostile: unknown dtype', (t) => rejects(t, st({ w: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, 1), /unknown dtype "F8"/));
test('hostile: missing dtype', (t) => rejects(t, st({ w: { shape: [1], data_offsets: [0, 4] } }, 4), /unknown dtype undefined/));

for (const [what, shape] of [
  ['negative', [-1, 4]],
  ['float', [1.5, 4]],
  ['string', ['2']],
  ['unsafe integer', [2 ** 60]],
  ['non-array', 4],
] as const) {
  test(`hostile: ${what} dims`, (t) => rejects(t, st({ w: { dtype: 'F32', shape, data_offsets: [0, 16] } }, 16), /is not a list of non-negative integers/));
}

for (const [what, offsets, re] of [
  ['end past the data section', [0, 20], /not inside the 16-byte data section/],
  ['begin after end', [8, 4], /not inside/],
  ['negative begin', [-4, 12], /non-negative integers/],
  ['three offsets', [0, 8, 16], /\[begin, end\]/],
  ['float offsets', [0, 15.5], /non-negative integers/],
] as const) {
  test(`hostile: data_offsets ${what}`, (t) => rejects(t, st({ w: { dtype: 'U8', shape: [4], data_offsets: offsets } }, 16), re));
}

test('hostile: dtype/shape size does not match the offsets', (t) =>
  rejects(t, st({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 16] } }, 16), /needs 24 bytes but data_offsets span 16/));

test('hostile: huge dims whose byte count wraps to 0 in 64-bit arithmetic', (t) =>
  // 2^50 * 2^14 * 4 = 2^66: a u64 product would wrap to 0 and match data_offsets [0, 0].
  rejects(t, st({ w: { dtype: 'F32', shape: [2 ** 50, 2 ** 14], data_offsets: [0, 0] } }, 16), /needs 73786976294838206464 bytes/));

test('hostile: overlapping tensors', (t) =>
  rejects(
    t,
    st({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 16),
    /"a" and "b" overlap/,
  ));

test('hostile: two tensors on the same bytes', (t) =>
  rejects(
    t,
    st({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'I32', shape: [2], data_offsets: [0, 8] } }, 8),
    /overlap/,
  ));

test('hostile: every truncation of a real file is rejected cleanly', async (t) => {
  const buf = await readFile(fixture('tiny-bert-model', 'model.safetensors'));
  for (const n of [0, 7, 8, 100, 4039, 4040, 4041, 300_000, buf.length - 1]) {
    t.throws(() => parseSafetensors(buf.subarray(0, n), 'f'), { instanceOf: InvalidFileError }, `cut at ${n}`);
  }
});

// ---------------------------------------------------------------------------------------------
// readCheckpoint: discovery, sharding

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'bertkit-weights-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Splits a fixture's tensors into two shards plus an index, as save_pretrained(max_shard_size) does. */
async function writeSharded(dir: string, folder: string) {
  const { tensors } = await readCheckpoint(fixture(folder));
  const all = [...tensors.values()];
  const half = Math.ceil(all.length / 2);
  const shards = [all.slice(0, half), all.slice(half)];
  const weight_map: Record<string, string> = {};
  for (const [i, shard] of shards.entries()) {
    const name = `model-0000${i + 1}-of-00002.safetensors`;
    await writeFile(join(dir, name), writeSafetensors(shard));
    for (const x of shard) weight_map[x.name] = name;
  }
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map }));
  return { tensors, weight_map };
}

test('sharded safetensors: every shard read once, same tensors as the single file', (t) =>
  withTempDir(async (dir) => {
    const { tensors } = await writeSharded(dir, 'tiny-bert-mlm');
    const ck = await readCheckpoint(dir);
    t.is(ck.format, 'safetensors');
    t.deepEqual(ck.files, [
      join(dir, 'model.safetensors.index.json'),
      join(dir, 'model-00001-of-00002.safetensors'),
      join(dir, 'model-00002-of-00002.safetensors'),
    ]);
    t.deepEqual([...ck.tensors.keys()].sort(), [...tensors.keys()].sort());
    for (const [name, x] of tensors) {
      const y = ck.tensors.get(name)!;
      t.is(y.dtype, x.dtype);
      t.deepEqual(y.dims, x.dims);
      t.deepEqual(Buffer.from(y.data), Buffer.from(x.data), name);
    }
  }));

for (const shard of ['../model-00001-of-00002.safetensors', '/etc/passwd', 'sub/model.safetensors', 'sub\\model.safetensors', '..', '', 'a\0b']) {
  test(`sharded safetensors: rejects shard name ${JSON.stringify(shard)}`, (t) =>
    withTempDir(async (dir) => {
      const { weight_map } = await writeSharded(dir, 'tiny-bert-model');
      weight_map['embeddings.word_embeddings.weight'] = shard;
      const index = join(dir, 'model.safetensors.index.json');
      await writeFile(index, JSON.stringify({ weight_map }));
      const err = await t.throwsAsync(readCheckpoint(dir), { instanceOf: InvalidFileError, message: /is not a file name inside the checkpoint folder/ });
      t.is(err?.code, 'ERR_INVALID_FILE');
      t.is(err?.file, index);
    }));
}

test('sharded safetensors: index naming a tensor its shard lacks, a missing shard, a duplicate, bad JSON', (t) =>
  withTempDir(async (dir) => {
    const { weight_map } = await writeSharded(dir, 'tiny-bert-model');
    const index = join(dir, 'model.safetensors.index.json');
    const first = 'model-00001-of-00002.safetensors';
    const second = 'model-00002-of-00002.safetensors';

    await writeFile(index, JSON.stringify({ weight_map: { ...weight_map, 'pooler.dense.weight': first } }));
    await t.throwsAsync(readCheckpoint(dir), { instanceOf: InvalidFileError, message: /puts "pooler.dense.weight" in this shard/ });

    await writeFile(index, JSON.stringify({ weight_map: { ...weight_map, extra: 'model-00003-of-00003.safetensors' } }));
    await t.throwsAsync(readCheckpoint(dir), { instanceOf: InvalidFileError, message: /shard "model-00003-of-00003.safetensors" named by the index does not exist/ });

    const { tensors } = await readCheckpoint(fixture('tiny-bert-model'));
    await writeFile(join(dir, second), writeSafetensors([...tensors.values()]));
    await writeFile(index, JSON.stringify({ weight_map }));
    await t.throwsAsync(readCheckpoint(dir), { instanceOf: InvalidFileError, message: /stored in more than one shard/ });

    await writeFile(index, '{"weight_map": ');
    await t.throwsAsync(readCheckpoint(dir), { instanceOf: InvalidFileError, message: /not valid JSON/ });
    await writeFile(index, '{"weight_map": {}}');
    await t.throwsAsync(readCheckpoint(dir), { instanceOf: InvalidFileError, message: /"weight_map" is empty/ });
  }));

test('readCheckpoint: no weights file lists what it looked for', (t) =>
  withTempDir(async (dir) => {
    const err = await t.throwsAsync(readCheckpoint(dir), { instanceOf: InvalidFileError });
    t.is(err?.code, 'ERR_INVALID_FILE');
    t.is(err?.file, dir);
    t.regex(err!.message, /model\.safetensors, model\.safetensors\.index\.json, pytorch_model\.bin, pytorch_model\.bin\.index\.json/);
  }));

test('readCheckpoint: a missing folder is an InvalidFileError', async (t) => {
  await t.throwsAsync(readCheckpoint('/nonexistent/bertkit'), { instanceOf: InvalidFileError, message: /no weights found/ });
});

test('readCheckpoint: model.safetensors wins over pytorch_model.bin', (t) =>
  withTempDir(async (dir) => {
    await writeFile(join(dir, 'model.safetensors'), writeSafetensors([{ name: 'a', dtype: 'F32', dims: [1], data: new Uint8Array(4) }]));
    await writeFile(join(dir, 'pytorch_model.bin'), 'not read');
    const ck = await readCheckpoint(dir);
    t.is(ck.format, 'safetensors');
    t.deepEqual([...ck.tensors.keys()], ['a']);
  }));

test('readCheckpoint: a weights path that is a folder is an InvalidFileError', (t) =>
  withTempDir(async (dir) => {
    await mkdir(join(dir, 'model.safetensors'));
    await t.throwsAsync(readCheckpoint(dir), { instanceOf: InvalidFileError, message: /cannot read/ });
  }));
