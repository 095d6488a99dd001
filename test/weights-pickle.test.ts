import test, { type ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BertError, type BertErrorCode, InvalidFileError, UnsafePickleError, UnsupportedModelError } from '../src-ts/errors.js';
import { type DType, parseTorchCheckpoint, readCheckpoint, type RawTensor } from '../src-ts/weights/index.js';
import { fixture } from './helpers/fixtures.js';

const dataDir = join(dirname(fileURLToPath(import.meta.url)), 'data', 'weights');

// ---------------------------------------------------------------------------------------------
// Builders: a pickle assembler and a STORED zip writer, so hostile files can be made in memory.

const enc = new TextEncoder();
const u16 = (n: number) => [n & 0xff, (n >> 8) & 0xff];
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const u64 = (n: number) => [...u32(n % 2 ** 32), ...u32(Math.floor(n / 2 ** 32))];

/** Pickle opcodes as byte arrays; `pk(...)` concatenates them. */
const op = {
  proto: [0x80, 2],
  stop: [0x2e],
  mark: [0x28],
  tuple: [0x74],
  emptyTuple: [0x29],
  emptyDict: [0x7d],
  emptyList: [0x5d],
  reduce: [0x52],
  build: [0x62],
  setitem: [0x73],
  setitems: [0x75],
  append: [0x61],
  binpersid: [0x51],
  none: [0x4e],
  newfalse: [0x89],
  global: (module: string, name: string) => [0x63, ...enc.encode(`${module}\n${name}\n`)],
  str: (s: string) => [0x58, ...u32(enc.encode(s).length), ...enc.encode(s)],
  /** BININT for 32-bit values, LONG1 (8 bytes) beyond. */
  int: (n: number) => (n >= -(2 ** 31) && n < 2 ** 31 ? [0x4a, ...u32(n)] : [0x8a, 8, ...u64(n)]),
  put: (i: number) => [0x71, i],
  get: (i: number) => [0x68, i],
};
const pk = (...parts: (ArrayLike<number> | number)[]) => new Uint8Array(parts.flatMap((p) => (typeof p === 'number' ? [p] : Array.from(p))));

interface TensorSpec {
  name: string;
  key: string;
  storage?: string;
  numel: number;
  offset?: number;
  size: number[];
  stride: number[];
  /** Legacy format only: [view_key, offset, numel] of a storage view. */
  view?: [string, number, number];
}

const tuple = (xs: number[]) => [...op.mark, ...xs.flatMap(op.int), ...op.tuple];

/** A state dict pickle as torch.save (protocol 2) writes it; `legacy` adds the view slot to persistent ids. */
function statePickle(tensors: TensorSpec[], legacy = false): Uint8Array {
  const view = (t: TensorSpec) => (t.view ? [...op.mark, ...op.str(t.view[0]), ...op.int(t.view[1]), ...op.int(t.view[2]), ...op.tuple] : op.none);
  const items = tensors.flatMap((t) => [
    ...op.str(t.name),
    ...op.global('torch._utils', '_rebuild_tensor_v2'),
    ...op.mark,
    ...[...op.mark, ...op.str('storage'), ...op.global('torch', t.storage ?? 'FloatStorage'), ...op.str(t.key), ...op.str('cpu'), ...op.int(t.numel), ...(legacy ? view(t) : []), ...op.tuple],
    ...op.binpersid,
    ...op.int(t.offset ?? 0),
    ...tuple(t.size),
    ...tuple(t.stride),
    ...op.newfalse,
    ...op.global('collections', 'OrderedDict'),
    ...op.emptyTuple,
    ...op.reduce,
    ...op.tuple,
    ...op.reduce,
  ]);
  return pk(op.proto, op.emptyDict, op.mark, items, op.setitems, op.stop);
}

interface ZipOptions {
  zip64?: boolean;
  method?: number;
}

/** A zip of STORED entries (CRCs left 0: the reader does not check them). */
function zip(entries: Record<string, Uint8Array> | [string, Uint8Array][], opts: ZipOptions = {}): Uint8Array {
  const parts: number[] = [];
  const central: number[] = [];
  const list = Array.isArray(entries) ? entries : Object.entries(entries);
  for (const [name, data] of list) {
    const n = enc.encode(name);
    const offset = parts.length;
    parts.push(...u32(0x04034b50), ...u16(20), ...u16(0), ...u16(opts.method ?? 0), ...u32(0), ...u32(0), ...u32(data.length), ...u32(data.length), ...u16(n.length), ...u16(0), ...n, ...data);
    const big = opts.zip64 ? 0xffffffff : undefined;
    const extra = opts.zip64 ? [...u16(1), ...u16(24), ...u64(data.length), ...u64(data.length), ...u64(offset)] : [];
    central.push(
      ...u32(0x02014b50), ...u16(45), ...u16(45), ...u16(0), ...u16(opts.method ?? 0), ...u32(0), ...u32(0),
      ...u32(big ?? data.length), ...u32(big ?? data.length), ...u16(n.length), ...u16(extra.length), ...u16(0), ...u16(0), ...u16(0), ...u32(0),
      ...u32(big ?? offset), ...n, ...extra,
    );
  }
  const cdOffset = parts.length;
  parts.push(...central);
  if (opts.zip64) {
    const rec = parts.length;
    parts.push(...u32(0x06064b50), ...u64(44), ...u16(45), ...u16(45), ...u32(0), ...u32(0), ...u64(list.length), ...u64(list.length), ...u64(central.length), ...u64(cdOffset));
    parts.push(...u32(0x07064b50), ...u32(0), ...u64(rec), ...u32(1));
    parts.push(...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(0xffff), ...u16(0xffff), ...u32(0xffffffff), ...u32(0xffffffff), ...u16(0));
  } else {
    parts.push(...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(list.length), ...u16(list.length), ...u32(central.length), ...u32(cdOffset), ...u16(0));
  }
  return new Uint8Array(parts);
}

const f32 = (...xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
const floats = (t: RawTensor) => Array.from(new Float32Array(Uint8Array.from(t.data).buffer));

/** A torch.save-style archive: `archive/data.pkl`, `archive/data/<key>`, plus extra entries. */
function torchZip(pkl: Uint8Array, storages: Record<string, Uint8Array>, extra: Record<string, Uint8Array> = {}, opts?: ZipOptions) {
  const entries: Record<string, Uint8Array> = { 'archive/data.pkl': pkl, 'archive/byteorder': enc.encode('little') };
  for (const [k, v] of Object.entries(storages)) entries[`archive/data/${k}`] = v;
  return zip({ ...entries, ...extra }, opts);
}

/**
 * The pre-1.6 format: magic, protocol and sys_info pickles, the state dict, the storage key list,
 * then per listed storage its element count (int64) and bytes.
 */
function legacyFile(tensors: TensorSpec[], storages: [key: string, count: number, data: Uint8Array][], littleEndian = true): Uint8Array {
  const magic = pk(op.proto, [0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19], op.stop);
  const protocol = pk(op.proto, op.int(1001), op.stop);
  const sysInfo = pk(op.proto, op.emptyDict, op.str('little_endian'), littleEndian ? [0x88] : op.newfalse, op.setitem, op.stop);
  const keys = pk(op.proto, op.emptyList, op.mark, storages.flatMap(([k]) => op.str(k)), [0x65], op.stop);
  const data = storages.flatMap(([, count, bytes]) => [...u64(count), ...bytes]);
  return pk(magic, protocol, sysInfo, statePickle(tensors, true), keys, data);
}

const FILE = '/x/pytorch_model.bin';

function rejects(t: ExecutionContext, buf: Uint8Array, cls: typeof InvalidFileError | typeof UnsupportedModelError, code: BertErrorCode, message: RegExp) {
  const err = t.throws<BertError>(() => parseTorchCheckpoint(buf, FILE), { instanceOf: cls, message });
  t.is(err?.code, code);
  return err;
}

// ---------------------------------------------------------------------------------------------
// The fixture written by torch.save

test('pretraining .bin fixture: tensors, shared storage, position_ids', async (t) => {
  const { tensors, format, files } = await readCheckpoint(fixture('tiny-bert-pretraining-bin'));
  t.is(format, 'pytorch');
  t.deepEqual(files, [fixture('tiny-bert-pretraining-bin', 'pytorch_model.bin')]);
  t.is(tensors.size, 49);

  const word = tensors.get('bert.embeddings.word_embeddings.weight')!;
  t.is(word.dtype, 'F32');
  t.deepEqual(word.dims, [1000, 64]);
  t.true(word.data.subarray(0, 64 * 4).every((b) => b === 0), 'pad row is zeros');
  t.false(word.data.subarray(64 * 4, 128 * 4).every((b) => b === 0));
  // The tied decoder is the same tensor: same bytes of the file, no copy.
  const decoder = tensors.get('cls.predictions.decoder.weight')!;
  t.deepEqual(decoder.dims, [1000, 64]);
  t.is(decoder.data.buffer, word.data.buffer);
  t.is(decoder.data.byteOffset, word.data.byteOffset);
  t.is(tensors.get('cls.predictions.decoder.bias')!.data.byteOffset, tensors.get('cls.predictions.bias')!.data.byteOffset);

  const pos = tensors.get('bert.embeddings.position_ids')!;
  t.is(pos.dtype, 'I64');
  t.deepEqual(pos.dims, [1, 64]);
  const v = new DataView(pos.data.buffer, pos.data.byteOffset, pos.data.byteLength);
  t.deepEqual(Array.from({ length: 64 }, (_, i) => Number(v.getBigInt64(i * 8, true))), Array.from({ length: 64 }, (_, i) => i));

  t.deepEqual(tensors.get('cls.seq_relationship.weight')!.dims, [2, 64]);
  t.deepEqual(tensors.get('bert.encoder.layer.1.intermediate.dense.weight')!.dims, [128, 64]);
  const ln = floats(tensors.get('bert.encoder.layer.0.output.LayerNorm.weight')!);
  t.true(ln.every((x) => x >= 0.6 && x <= 1.4), 'LayerNorm weights are U(0.6, 1.4)');
});

test('every truncation of the .bin fixture is an InvalidFileError', async (t) => {
  const buf = await readFile(fixture('tiny-bert-pretraining-bin', 'pytorch_model.bin'));
  for (const n of [0, 3, 4, 100, 5000, 300_000, buf.length - 200, buf.length - 23, buf.length - 1]) {
    t.throws(() => parseTorchCheckpoint(buf.subarray(0, n), FILE), { instanceOf: InvalidFileError }, `cut at ${n}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Files written by torch 2.13 (test/data/weights/make.py): zip and legacy non-zip formats

/** What make.py stored, as row-major values. */
const EXPECTED: Record<string, { dtype: DType; dims: number[]; values?: number[] }> = {
  f32: { dtype: 'F32', dims: [2, 3], values: [0, 1, 2, 3, 4, 5] },
  f32_t: { dtype: 'F32', dims: [3, 2], values: [0, 3, 1, 4, 2, 5] },
  shared: { dtype: 'F32', dims: [2, 3], values: [0, 1, 2, 3, 4, 5] },
  row1: { dtype: 'F32', dims: [3], values: [3, 4, 5] },
  strided: { dtype: 'F32', dims: [5], values: [0, 2, 4, 6, 8] },
  f16: { dtype: 'F16', dims: [4] },
  bf16: { dtype: 'BF16', dims: [2, 2] },
  f64: { dtype: 'F64', dims: [3] },
  i64: { dtype: 'I64', dims: [1, 4] },
  bool: { dtype: 'BOOL', dims: [2] },
  scalar: { dtype: 'F32', dims: [], values: [7] },
  empty: { dtype: 'F32', dims: [0, 3], values: [] },
};

for (const file of ['zip.bin', 'legacy.bin']) {
  test(`torch-written ${file}: dtypes, views, strides, shared tensors`, async (t) => {
    const buf = await readFile(join(dataDir, file));
    const tensors = parseTorchCheckpoint(buf, file);
    const names = Object.keys(EXPECTED).concat(file === 'zip.bin' ? ['param'] : []);
    t.deepEqual([...tensors.keys()], names, 'state dict order kept; OrderedDict _metadata is not a tensor');
    for (const [name, e] of Object.entries(EXPECTED)) {
      const x = tensors.get(name)!;
      t.is(x.dtype, e.dtype, name);
      t.deepEqual(x.dims, e.dims, name);
      if (e.values) t.deepEqual(floats(x), e.values, name);
    }
    t.is(Buffer.from(tensors.get('f16')!.data).toString('hex'), '003800bc0040ff7b'); // 0.5, -1, 2, 65504
    t.is(Buffer.from(tensors.get('bf16')!.data).toString('hex'), '803f00c0803e4040'); // 1, -2, 0.25, 3
    t.deepEqual(Array.from(new Float64Array(Uint8Array.from(tensors.get('f64')!.data).buffer)), [1.5, -0.1, 1e10]);
    t.deepEqual(Array.from(new BigInt64Array(Uint8Array.from(tensors.get('i64')!.data).buffer)), [-2n, -1n, 0n, 1n]);
    t.deepEqual(Array.from(tensors.get('bool')!.data), [1, 0]);
    // Contiguous tensors are views of the file; the transposed and strided ones are copies.
    t.is(tensors.get('f32')!.data.buffer, buf.buffer);
    t.is(tensors.get('row1')!.data.buffer, buf.buffer);
    t.is(tensors.get('row1')!.data.byteOffset, tensors.get('f32')!.data.byteOffset + 12);
    t.is(tensors.get('shared')!.data, tensors.get('f32')!.data);
    t.not(tensors.get('f32_t')!.data.buffer, buf.buffer);
    if (file === 'zip.bin') t.deepEqual(floats(tensors.get('param')!), [1, 2]);
  });
}

test('legacy format: every truncation of the torch-written file is an InvalidFileError', async (t) => {
  const buf = await readFile(join(dataDir, 'legacy.bin'));
  for (const n of [1, 14, 15, 20, 100, 500, buf.length - 100, buf.length - 9, buf.length - 1]) {
    t.throws(() => parseTorchCheckpoint(buf.subarray(0, n), FILE), { instanceOf: InvalidFileError }, `cut at ${n}`);
  }
});

test('legacy format built in memory: storage views, and each inconsistency rejected', (t) => {
  const spec: TensorSpec[] = [
    { name: 'a', key: '1', numel: 4, size: [2, 2], stride: [2, 1] },
    { name: 'b', key: '1', numel: 4, view: ['1v', 1, 2], size: [2], stride: [1] },
  ];
  const ok = parseTorchCheckpoint(legacyFile(spec, [['1', 4, f32(1, 2, 3, 4)]]), FILE);
  t.deepEqual(floats(ok.get('a')!), [1, 2, 3, 4]);
  t.deepEqual(floats(ok.get('b')!), [2, 3]);

  const bad: [Uint8Array, RegExp][] = [
    [legacyFile(spec, [['1', 3, f32(1, 2, 3)]]), /storage "1" holds 3 elements, the pickle says 4/],
    [legacyFile(spec, [['1', 4, f32(1, 2, 3)]]), /storage "1" is cut off/],
    [legacyFile(spec, []), /storage "1" has no data/],
    [legacyFile(spec, [['1', 4, f32(1, 2, 3, 4)], ['1', 4, f32(1, 2, 3, 4)]]), /storage "1" is listed twice/],
    [legacyFile(spec, [['2', 4, f32(1, 2, 3, 4)]]), /names "2", which no tensor uses/],
    [legacyFile([{ ...spec[1]!, view: ['1v', 3, 2] }], [['1', 4, f32(1, 2, 3, 4)]]), /bad storage view/],
    [legacyFile([{ ...spec[1]!, size: [3] }], [['1', 4, f32(1, 2, 3, 4)]]), /reads past its 2-element storage/],
  ];
  for (const [buf, message] of bad) {
    const err = t.throws(() => parseTorchCheckpoint(buf, FILE), { instanceOf: InvalidFileError, message });
    t.is(err?.code, 'ERR_INVALID_FILE');
  }
  rejects(t, legacyFile(spec, [['1', 4, f32(1, 2, 3, 4)]], false), UnsupportedModelError, 'ERR_UNSUPPORTED_MODEL', /big-endian/);
});

// ---------------------------------------------------------------------------------------------
// Hostile or broken archives built in memory

test('a minimal in-memory archive loads (and its ZIP64 form too)', (t) => {
  const pkl = statePickle([{ name: 'w', key: '0', numel: 4, size: [2, 2], stride: [1, 2] }]);
  for (const zip64 of [false, true]) {
    const tensors = parseTorchCheckpoint(torchZip(pkl, { 0: f32(1, 2, 3, 4) }, {}, { zip64 }), FILE);
    t.deepEqual(floats(tensors.get('w')!), [1, 3, 2, 4], `zip64=${zip64}`);
  }
});

for (const [what, module, name] of [
  ['os.system', 'os', 'system'],
  ['posix.system', 'posix', 'system'],
  ['builtins.eval', 'builtins', 'eval'],
  ['builtins.exec', 'builtins', 'exec'],
  ['__builtin__.getattr', '__builtin__', 'getattr'],
  ['subprocess.Popen', 'subprocess', 'Popen'],
  ['torch.load', 'torch', 'load'],
  ['torch._utils.os', 'torch._utils', 'os'],
] as const) {
  test(`refuses a pickle asking for ${what} (GLOBAL), before running anything`, (t) => {
    const marker = join(tmpdir(), `bertkit-pwned-${process.pid}-${name}`);
    const pkl = pk(op.proto, op.global(module, name), op.mark, op.str(`touch ${marker}`), op.tuple, op.reduce, op.stop);
    const err = rejects(t, torchZip(pkl, {}), UnsafePickleError, 'ERR_UNSAFE_PICKLE', new RegExp(`"${what.replace(/\./g, '\\.')}"`));
    t.true(err instanceof InvalidFileError);
    t.is((err as UnsafePickleError).file, FILE);
    t.false(existsSync(marker));
  });
}

test('refuses a global reached through STACK_GLOBAL (protocol 4)', (t) => {
  const pkl = pk([0x80, 4], op.str('builtins'), op.str('eval'), [0x93], op.mark, op.str('1+1'), op.tuple, op.reduce, op.stop);
  rejects(t, torchZip(pkl, {}), UnsafePickleError, 'ERR_UNSAFE_PICKLE', /"builtins\.eval"/);
});

test('refuses INST and other object-building opcodes', (t) => {
  const inst = pk(op.proto, op.mark, op.str('ls'), [0x69], enc.encode('subprocess\ncall\n'), op.stop);
  rejects(t, torchZip(inst, {}), UnsafePickleError, 'ERR_UNSAFE_PICKLE', /"subprocess\.call"/);
  const newobj = pk(op.proto, op.global('collections', 'OrderedDict'), op.emptyTuple, [0x81], op.stop);
  rejects(t, torchZip(newobj, {}), UnsafePickleError, 'ERR_UNSAFE_PICKLE', /opcode 0x81/);
  const legacyHostile = pk(op.proto, op.global('os', 'system'), op.stop);
  rejects(t, legacyHostile, UnsafePickleError, 'ERR_UNSAFE_PICKLE', /"os\.system"/);
});

test('refuses calling an allowed non-callable (a storage class)', (t) => {
  const pkl = pk(op.proto, op.global('torch', 'FloatStorage'), op.emptyTuple, op.reduce, op.stop);
  rejects(t, torchZip(pkl, {}), UnsafePickleError, 'ERR_UNSAFE_PICKLE', /calls a storage type/);
});

test('malformed pickles are InvalidFileErrors, never crashes', (t) => {
  const cases: [Uint8Array, RegExp][] = [
    [pk(op.proto, op.stop), /stack underflow/],
    [pk(op.proto, op.get(7), op.stop), /memo key 7 was never stored/],
    [pk(op.proto, op.setitems, op.stop), /no MARK/],
    [pk(op.proto, op.emptyList, op.str('k'), op.int(1), op.setitem, op.stop), /SETITEM\(S\) on a list/],
    [pk(op.proto, op.emptyDict, op.int(1), op.append, op.stop), /APPEND\(S\) on a dict/],
    [pk(op.proto, op.emptyDict, op.emptyTuple, op.int(1), op.setitem, op.stop), /dict key a 0-tuple/],
    [pk(op.proto, op.str('abc')).subarray(0, 7), /truncated pickle/],
    [pk(op.proto, op.emptyDict), /truncated pickle/],
    [pk(op.proto, [0x63], enc.encode('collections OrderedDict')), /unterminated GLOBAL/],
    [pk([0x80, 9], op.emptyDict, op.stop), /protocol 9/],
    [pk(op.proto, op.emptyList, op.stop), /holds a list, not a state dict/],
    [pk(op.proto, op.emptyDict, op.str('w'), op.int(3), op.setitem, op.stop), /entry "w" is 3, not a tensor/],
    [pk(op.proto, op.emptyDict, op.str('w'), op.global('collections', 'OrderedDict'), op.emptyTuple, op.reduce, op.setitem, op.stop), /not a tensor/],
    [pk(op.proto, op.emptyDict, op.str('x'), op.mark, op.tuple, op.binpersid, op.stop), /unsupported persistent id/],
    [pk(op.proto, op.emptyDict, op.emptyDict, op.build, op.str('k'), op.emptyList, op.build, op.stop), /BUILD on "k"/],
  ];
  for (const [pkl, message] of cases) {
    const err = t.throws(() => parseTorchCheckpoint(torchZip(pkl, {}), FILE), { instanceOf: InvalidFileError, message });
    t.is(err?.code, 'ERR_INVALID_FILE', String(message));
  }
});

test('tensor geometry is checked against its storage', (t) => {
  const cases: [TensorSpec, Record<string, Uint8Array>, RegExp][] = [
    [{ name: 'w', key: '0', numel: 4, size: [5], stride: [1] }, { 0: f32(1, 2, 3, 4) }, /reads past its 4-element storage/],
    [{ name: 'w', key: '0', numel: 4, offset: 2, size: [2, 2], stride: [2, 1] }, { 0: f32(1, 2, 3, 4) }, /reads past/],
    [{ name: 'w', key: '0', numel: 4, size: [2 ** 40, 2 ** 40], stride: [2 ** 40, 1] }, { 0: f32(1, 2, 3, 4) }, /reads past/],
    [{ name: 'w', key: '0', numel: 4, size: [2], stride: [1] }, { 0: f32(1, 2, 3) }, /holds 12 bytes, expected 4 × F32/],
    [{ name: 'w', key: '7', numel: 1, size: [1], stride: [1] }, {}, /storage "7" has no archive\/data\/7 entry/],
    [{ name: 'w', key: '0', numel: 4, size: [2, 2], stride: [1] }, { 0: f32(1, 2, 3, 4) }, /bad offset\/size\/stride/],
    [{ name: 'w', key: '0', numel: 4, size: [-1], stride: [1] }, { 0: f32(1, 2, 3, 4) }, /bad offset\/size\/stride/],
  ];
  for (const [spec, storages, message] of cases) {
    const err = t.throws(() => parseTorchCheckpoint(torchZip(statePickle([spec]), storages), FILE), { instanceOf: InvalidFileError, message });
    t.is(err?.code, 'ERR_INVALID_FILE');
  }
  // One storage key used with two dtypes.
  const two = statePickle([
    { name: 'a', key: '0', numel: 4, size: [4], stride: [1] },
    { name: 'b', key: '0', storage: 'IntStorage', numel: 4, size: [4], stride: [1] },
  ]);
  t.throws(() => parseTorchCheckpoint(torchZip(two, { 0: f32(1, 2, 3, 4) }), FILE), { instanceOf: InvalidFileError, message: /used both as F32\[4\] and as I32\[4\]/ });
});

test('stride-0 and repeated strided views cannot make it allocate more than the file', (t) => {
  const broadcast = statePickle([{ name: 'w', key: '0', numel: 1, size: [1 << 20, 1 << 20], stride: [0, 0] }]);
  t.throws(() => parseTorchCheckpoint(torchZip(broadcast, { 0: f32(1) }), FILE), { instanceOf: InvalidFileError, message: /more memory than the file holds/ });
  const many = statePickle(Array.from({ length: 200 }, (_, i) => ({ name: `w${i}`, key: '0', numel: 1000, size: [2, 500], stride: [1, 2] })));
  t.throws(() => parseTorchCheckpoint(torchZip(many, { 0: new Uint8Array(4000) }), FILE), { instanceOf: InvalidFileError, message: /more memory than the file holds/ });
});

test('zip structure: compressed, encrypted, duplicate, misplaced entries and bad offsets', (t) => {
  const pkl = statePickle([{ name: 'w', key: '0', numel: 1, size: [1], stride: [1] }]);
  rejects(t, torchZip(pkl, { 0: f32(1) }, {}, { method: 8 }), InvalidFileError, 'ERR_INVALID_FILE', /is compressed \(method 8\)/);

  const good = torchZip(pkl, { 0: f32(1) });
  const eocd = good.length - 22;
  const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const cdOffset = dv(good).getUint32(eocd + 16, true);

  let bad = Uint8Array.from(good);
  dv(bad).setUint32(eocd + 16, good.length + 10, true);
  rejects(t, bad, InvalidFileError, 'ERR_INVALID_FILE', /central directory at offset \d+ runs past the end/);

  bad = Uint8Array.from(good);
  dv(bad).setUint16(eocd + 10, 500, true);
  rejects(t, bad, InvalidFileError, 'ERR_INVALID_FILE', /500 entries cannot fit/);

  bad = Uint8Array.from(good);
  dv(bad).setUint32(cdOffset + 42, good.length - 10, true); // first entry's local header offset
  rejects(t, bad, InvalidFileError, 'ERR_INVALID_FILE', /local header of "archive\/data.pkl"/);

  bad = Uint8Array.from(good);
  dv(bad).setUint32(cdOffset + 24, 1 << 30, true); // size
  dv(bad).setUint32(cdOffset + 20, 1 << 30, true); // compressed size
  rejects(t, bad, InvalidFileError, 'ERR_INVALID_FILE', /data of "archive\/data.pkl" at offset \d+ runs past the end/);

  bad = Uint8Array.from(good);
  dv(bad).setUint16(cdOffset + 8, 1, true);
  rejects(t, bad, InvalidFileError, 'ERR_INVALID_FILE', /is encrypted/);

  bad = Uint8Array.from(good);
  dv(bad).setUint32(cdOffset, 0x12345678, true);
  rejects(t, bad, InvalidFileError, 'ERR_INVALID_FILE', /bad central directory signature/);

  bad = Uint8Array.from(good);
  dv(bad).setUint32(eocd + 12, 0xffffffff, true); // claims ZIP64 without the records
  rejects(t, bad, InvalidFileError, 'ERR_INVALID_FILE', /ZIP64/);

  rejects(t, zip({ 'a/data.pkl': pkl, 'b/data.pkl': pkl }), InvalidFileError, 'ERR_INVALID_FILE', /expected one <folder>\/data.pkl, found 2/);
  rejects(t, zip({ 'data.pkl': pkl }), InvalidFileError, 'ERR_INVALID_FILE', /found 0/);
  rejects(t, zip({ 'a/data.pkl': pkl, 'a/data/0': f32(1), 'a/data/1': f32(1) }).subarray(0, 10), InvalidFileError, 'ERR_INVALID_FILE', /no end-of-central-directory/);

  rejects(t, zip([['a/data.pkl', pkl], ['a/data/0', f32(1)], ['a/data/0', f32(2)]]), InvalidFileError, 'ERR_INVALID_FILE', /entry "a\/data\/0" appears twice/);
});

test('byteorder: big-endian archives are unsupported, unknown values invalid', (t) => {
  const pkl = statePickle([{ name: 'w', key: '0', numel: 1, size: [1], stride: [1] }]);
  const err = rejects(t, torchZip(pkl, { 0: f32(1) }, { 'archive/byteorder': enc.encode('big') }), UnsupportedModelError, 'ERR_UNSUPPORTED_MODEL', /big-endian/);
  t.regex(err!.message, /\/x\/pytorch_model\.bin/);
  rejects(t, torchZip(pkl, { 0: f32(1) }, { 'archive/byteorder': enc.encode('middle') }), InvalidFileError, 'ERR_INVALID_FILE', /unknown byteorder "middle"/);
});

test('not a torch file at all', (t) => {
  rejects(t, enc.encode('hello world'), InvalidFileError, 'ERR_INVALID_FILE', /not a PyTorch checkpoint/);
  rejects(t, new Uint8Array(0), InvalidFileError, 'ERR_INVALID_FILE', /not a PyTorch checkpoint/);
  rejects(t, pk(op.proto, op.int(5), op.stop), InvalidFileError, 'ERR_INVALID_FILE', /not a PyTorch checkpoint/);
});
