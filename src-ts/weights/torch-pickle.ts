/**
 * Legacy PyTorch checkpoints (`pytorch_model.bin`): the zip format `torch.save` writes since 1.6
 * and the older non-zip format. Both hold a pickled state dict. Pickle is a program for a stack
 * machine that can call any Python function, so this file implements only the opcodes and the few
 * globals a state dict uses, and calls nothing: "calling" a global builds a plain JS value.
 */
import { InvalidFileError, UnsafePickleError, UnsupportedModelError } from '../errors.js';
import { DTYPE_SIZE, type DType, type RawTensor } from './types.js';
import { readZip } from './zip.js';

// ---------------------------------------------------------------------------------------------
// Values the restricted unpickler produces

class Tuple {
  constructor(readonly items: PyValue[]) {}
}

/** A storage class (`torch.FloatStorage`) or a dtype object (`torch.float32`): both name a dtype. */
class StorageType {
  constructor(readonly dtype: DType) {}
}

type Callable = 'OrderedDict' | 'rebuild_tensor' | 'rebuild_tensor_v2' | 'rebuild_parameter';

class Global {
  constructor(
    readonly qualname: string,
    readonly callable: Callable,
  ) {}
}

/** The bytes behind a storage key; filled later in the legacy format, where data follows the pickle. */
interface Storage {
  key: string;
  dtype: DType;
  numel: number;
  bytes: Uint8Array | null;
}

/** What persistent_load returns: a storage, or (legacy format only) a slice of one, in elements. */
class StorageRef {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly numel: number,
  ) {}
}

/** `_rebuild_tensor_v2`'s arguments, checked; turned into bytes once the storages are read. */
class LazyTensor {
  constructor(
    readonly ref: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyValue[]
  | Map<PyValue, PyValue>
  | Tuple
  | Global
  | StorageType
  | StorageRef
  | LazyTensor;

const STORAGE_DTYPES: Record<string, DType> = {
  DoubleStorage: 'F64',
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

const CALLABLES: Record<string, Callable> = {
  'collections.OrderedDict': 'OrderedDict',
  'torch._utils._rebuild_tensor': 'rebuild_tensor',
  'torch._utils._rebuild_tensor_v2': 'rebuild_tensor_v2',
  'torch._utils._rebuild_parameter': 'rebuild_parameter',
};

/** The allow-list: anything else is refused before it could ever be used. */
function findClass(module: string, name: string, file: string): Global | StorageType {
  const qualname = `${module}.${name}`;
  if (Object.hasOwn(CALLABLES, qualname)) return new Global(qualname, CALLABLES[qualname]!);
  if (module === 'torch' && Object.hasOwn(STORAGE_DTYPES, name)) return new StorageType(STORAGE_DTYPES[name]!);
  throw new UnsafePickleError(`the pickle asks for the global "${qualname}", which a state dict never needs; refusing to load it`, file);
}

// ---------------------------------------------------------------------------------------------
// The pickle machine

/** Far above a state dict's needs (bert-large: ~4k memo entries), far below exhausting memory. */
const MAX_STACK = 1 << 20;
const MAX_MEMO = 1 << 20;
const MAX_GLOBAL_LINE = 256;

type PersistentLoad = (pid: PyValue) => PyValue;

/** Runs one pickle starting at `start`; returns its value and the offset just past STOP. */
function unpickle(buf: Uint8Array, start: number, file: string, persistentLoad: PersistentLoad | null): { value: PyValue; end: number } {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let pos = start;
  let op = 0;
  let opAt = start;
  function fail(message: string): never {
    throw new InvalidFileError(`invalid pickle: ${message} (opcode 0x${op.toString(16)} at offset ${opAt})`, file);
  }
  const take = (n: number): number => {
    if (n > buf.length - pos) fail('truncated pickle');
    const at = pos;
    pos += n;
    return at;
  };
  const str = (n: number): string => {
    const at = take(n);
    try {
      return utf8.decode(buf.subarray(at, at + n));
    } catch {
      fail('string is not UTF-8');
    }
  };
  const line = (): string => {
    const end = buf.subarray(pos, Math.min(buf.length, pos + MAX_GLOBAL_LINE)).indexOf(0x0a);
    if (end < 0) fail('unterminated GLOBAL name');
    const s = str(end);
    pos++;
    return s;
  };

  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  const push = (v: PyValue) => {
    if (stack.length >= MAX_STACK) fail('stack too deep');
    stack.push(v);
  };
  const pop = (): PyValue => {
    if (stack.length <= (marks.at(-1) ?? 0)) fail('stack underflow');
    return stack.pop()!;
  };
  const top = (): PyValue => {
    if (stack.length <= (marks.at(-1) ?? 0)) fail('stack underflow');
    return stack[stack.length - 1]!;
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK on the stack');
    return stack.splice(m);
  };
  const put = (i: number) => {
    if (!memo.has(i) && memo.size >= MAX_MEMO) fail('memo too large');
    memo.set(i, top());
  };
  const get = (i: number) => {
    if (!memo.has(i)) fail(`memo key ${i} was never stored`);
    push(memo.get(i)!);
  };
  const setItems = (dict: PyValue, items: PyValue[]) => {
    if (!(dict instanceof Map)) fail(`SETITEM(S) on ${describe(dict)}`);
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i]!;
      if (key !== null && typeof key === 'object') fail(`dict key ${describe(key)} is not supported`);
      dict.set(key, items[i + 1]!);
    }
  };
  const append = (list: PyValue, items: PyValue[]) => {
    if (!Array.isArray(list)) fail(`APPEND(S) on ${describe(list)}`);
    if (list.length + items.length > MAX_STACK) fail('list too long');
    list.push(...items);
  };

  for (;;) {
    opAt = pos;
    op = buf[take(1)]!;
    switch (op) {
      case 0x80: // PROTO
        if (buf[take(1)]! > 5) fail(`pickle protocol ${buf[pos - 1]} is newer than 5`);
        break;
      case 0x95: // FRAME: a buffering hint; its length only has to be plausible.
        if (view.getBigUint64(take(8), true) > BigInt(buf.length - pos)) fail('frame runs past the end');
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        if (marks.length >= MAX_STACK) fail('too many MARKs');
        marks.push(stack.length);
        break;
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        push(new Tuple([]));
        break;
      case 0x74: // TUPLE
        push(new Tuple(popMark()));
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const items: PyValue[] = [];
        for (let n = op - 0x84; n > 0; n--) items.unshift(pop());
        push(new Tuple(items));
        break;
      }
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4b: // BININT1
        push(buf[take(1)]!);
        break;
      case 0x4d: // BININT2
        push(view.getUint16(take(2), true));
        break;
      case 0x4a: // BININT
        push(view.getInt32(take(4), true));
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement of n bytes
        const n = buf[take(1)]!;
        const at = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[at + i]!);
        if (n > 0 && buf[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        push(view.getFloat64(take(8), false));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(str(buf[take(1)]!));
        break;
      case 0x58: // BINUNICODE
        push(str(view.getUint32(take(4), true)));
        break;
      case 0x8d: {
        // BINUNICODE8
        const n = view.getBigUint64(take(8), true);
        if (n > BigInt(buf.length - pos)) fail('truncated pickle');
        push(str(Number(n)));
        break;
      }
      case 0x71: // BINPUT
        put(buf[take(1)]!);
        break;
      case 0x72: // LONG_BINPUT
        put(view.getUint32(take(4), true));
        break;
      case 0x94: // MEMOIZE
        put(memo.size);
        break;
      case 0x68: // BINGET
        get(buf[take(1)]!);
        break;
      case 0x6a: // LONG_BINGET
        get(view.getUint32(take(4), true));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        push(findClass(module, line(), file));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        push(findClass(module, name, file));
        break;
      }
      case 0x69: {
        // INST "module\nname\n": names the class it would instantiate, so say which.
        const module = line();
        const name = line();
        findClass(module, name, file);
        throw new UnsafePickleError(`the pickle instantiates "${module}.${name}" with INST, which a state dict never does`, file);
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        push(call(fn, args, file, fail));
        break;
      }
      case 0x62: {
        // BUILD: OrderedDict's state is its instance attributes (the state dict's `_metadata`), not items.
        pop();
        if (!(top() instanceof Map)) fail(`BUILD on ${describe(top())} is not supported`);
        break;
      }
      case 0x51: {
        // BINPERSID
        if (!persistentLoad) fail('persistent id outside the main pickle');
        push(persistentLoad(pop()));
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const item = pop();
        append(top(), [item]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      default:
        throw new UnsafePickleError(
          `pickle opcode 0x${op.toString(16)} (${JSON.stringify(String.fromCharCode(op))}) at offset ${opAt} is not used by state dicts; refusing to load it`,
          file,
        );
    }
  }
}

function call(fn: PyValue, args: PyValue, file: string, fail: (m: string) => never): PyValue {
  if (!(fn instanceof Global)) {
    if (fn instanceof StorageType) throw new UnsafePickleError(`the pickle calls a storage type or dtype, which a state dict never does`, file);
    fail(`cannot call ${describe(fn)}`);
  }
  if (!(args instanceof Tuple)) fail(`arguments of ${fn.qualname} are ${describe(args)}, not a tuple`);
  const a = args.items;
  switch (fn.callable) {
    case 'OrderedDict':
      if (a.length) fail('collections.OrderedDict with arguments is not supported');
      return new Map();
    case 'rebuild_parameter':
      // (data, requires_grad, backward_hooks): a Parameter is its data here.
      if (a.length !== 3 || !(a[0] instanceof LazyTensor)) fail('_rebuild_parameter expects (tensor, requires_grad, hooks)');
      return a[0];
    case 'rebuild_tensor':
    case 'rebuild_tensor_v2': {
      // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]]): the rest is autograd state.
      const ok = fn.callable === 'rebuild_tensor' ? a.length === 4 : a.length === 6 || a.length === 7;
      if (!ok) fail(`${fn.qualname} got ${a.length} arguments`);
      const [ref, offset, size, stride] = a;
      if (!(ref instanceof StorageRef)) fail(`${fn.qualname}: the first argument is ${describe(ref)}, not a storage`);
      const sz = intTuple(size);
      const st = intTuple(stride);
      if (!isIndex(offset) || !sz || !st || sz.length !== st.length) {
        fail(`${fn.qualname}: bad offset/size/stride ${describe(offset)}, ${describe(size)}, ${describe(stride)}`);
      }
      // The furthest element must lie inside the storage (BigInt: sizes are attacker-chosen).
      if (!sz.includes(0)) {
        let last = BigInt(offset);
        for (let i = 0; i < sz.length; i++) last += BigInt(sz[i]! - 1) * BigInt(st[i]!);
        if (last >= BigInt(ref.numel)) {
          fail(`tensor [${sz.join(', ')}] with stride [${st.join(', ')}] at offset ${offset} reads past its ${ref.numel}-element storage`);
        }
      }
      return new LazyTensor(ref, offset, sz, st);
    }
  }
}

function isIndex(v: PyValue | undefined): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function intTuple(v: PyValue | undefined): number[] | null {
  return v instanceof Tuple && v.items.every(isIndex) ? (v.items as number[]) : null;
}

function describe(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Map) return 'a dict';
  if (v instanceof Tuple) return `a ${v.items.length}-tuple`;
  if (v instanceof Global) return v.qualname;
  if (v instanceof StorageType) return `a ${v.dtype} storage type`;
  if (v instanceof StorageRef) return 'a storage';
  if (v instanceof LazyTensor) return 'a tensor';
  return typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : String(v);
}

// ---------------------------------------------------------------------------------------------
// Checkpoint formats

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** Reads a `torch.save`d state dict (zip or legacy format) without executing anything. */
export function parseTorchCheckpoint(buf: Uint8Array, file: string): Map<string, RawTensor> {
  const isZip = buf.length >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04;
  return isZip ? parseZipCheckpoint(buf, file) : parseLegacyCheckpoint(buf, file);
}

/**
 * Reads the tuple a persistent id holds: ('storage', type, key, location, numel) in the zip
 * format, plus a view (key, offset, numel) or None in the legacy one.
 */
function storagePid(pid: PyValue, legacy: boolean, file: string) {
  const a = pid instanceof Tuple ? pid.items : [];
  const [kind, type, key, location, numel, view] = a;
  if (a.length !== (legacy ? 6 : 5) || kind !== 'storage' || !(type instanceof StorageType) || typeof key !== 'string' || typeof location !== 'string' || !isIndex(numel)) {
    throw new InvalidFileError(`invalid pickle: unsupported persistent id ${describe(pid)}`, file);
  }
  let slice: { offset: number; numel: number } | null = null;
  if (view != null) {
    const v = view instanceof Tuple ? view.items : [];
    if (v.length !== 3 || typeof v[0] !== 'string' || !isIndex(v[1]) || !isIndex(v[2]) || v[1] + v[2] > numel) {
      throw new InvalidFileError(`invalid pickle: bad storage view ${describe(view)} of storage "${key}"`, file);
    }
    slice = { offset: v[1], numel: v[2] };
  }
  return { dtype: type.dtype, key, numel, slice };
}

/** The storage of a key, made on first use; every later use must agree on its dtype and size. */
function useStorage(storages: Map<string, Storage>, key: string, dtype: DType, numel: number, file: string, bytes: () => Uint8Array | null): Storage {
  const s = storages.get(key);
  if (!s) {
    const made = { key, dtype, numel, bytes: bytes() };
    storages.set(key, made);
    return made;
  }
  if (s.dtype !== dtype || s.numel !== numel) {
    throw new InvalidFileError(`storage "${key}" is used both as ${s.dtype}[${s.numel}] and as ${dtype}[${numel}]`, file);
  }
  return s;
}

function parseZipCheckpoint(buf: Uint8Array, file: string): Map<string, RawTensor> {
  const entries = readZip(buf, file);
  // torch.save puts everything under one folder named after the file ("archive/" since torch 2.0).
  const pickles = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) {
    throw new InvalidFileError(`not a torch.save archive: expected one <folder>/data.pkl, found ${pickles.length}`, file);
  }
  const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(byteorder);
    if (order === 'big') throw new UnsupportedModelError(`${file}: big-endian torch checkpoints are not supported`);
    if (order !== 'little') throw new InvalidFileError(`unknown byteorder ${JSON.stringify(order.slice(0, 20))}`, file);
  }

  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: PyValue): PyValue => {
    const { dtype, key, numel } = storagePid(pid, false, file);
    const s = useStorage(storages, key, dtype, numel, file, () => {
      const bytes = entries.get(`${prefix}data/${key}`);
      if (!bytes) throw new InvalidFileError(`storage "${key}" has no ${prefix}data/${key} entry`, file);
      if (bytes.length !== numel * DTYPE_SIZE[dtype]) {
        throw new InvalidFileError(`storage "${key}" holds ${bytes.length} bytes, expected ${numel} × ${dtype}`, file);
      }
      return bytes;
    });
    return new StorageRef(s, 0, numel);
  };
  const { value } = unpickle(entries.get(pickles[0]!)!, 0, file, persistentLoad);
  return stateDict(value, buf.length, file);
}

function parseLegacyCheckpoint(buf: Uint8Array, file: string): Map<string, RawTensor> {
  const notTorch = () => new InvalidFileError('not a PyTorch checkpoint (neither a torch.save zip archive nor the legacy format)', file);
  // A file that is not a pickle at all must say "not a checkpoint", not "unsafe opcode".
  if (buf[0] !== 0x80) throw notTorch();
  const magic = unpickle(buf, 0, file, null);
  if (magic.value !== LEGACY_MAGIC) throw notTorch();
  const protocol = unpickle(buf, magic.end, file, null);
  if (protocol.value !== LEGACY_PROTOCOL) throw new InvalidFileError(`unsupported legacy torch protocol ${describe(protocol.value)}`, file);
  const sysInfo = unpickle(buf, protocol.end, file, null);
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) {
    throw new UnsupportedModelError(`${file}: big-endian torch checkpoints are not supported`);
  }

  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: PyValue): PyValue => {
    const { dtype, key, numel, slice } = storagePid(pid, true, file);
    // The bytes follow the pickle; they are filled in below.
    const s = useStorage(storages, key, dtype, numel, file, () => null);
    return slice ? new StorageRef(s, slice.offset, slice.numel) : new StorageRef(s, 0, numel);
  };
  const main = unpickle(buf, sysInfo.end, file, persistentLoad);
  const keys = unpickle(buf, main.end, file, null);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    throw new InvalidFileError('the storage key list is not a list of strings', file);
  }

  // Then each storage in key-list order: its element count (int64 LE) and its raw bytes.
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const s = storages.get(key);
    if (!s) throw new InvalidFileError(`the storage key list names "${key}", which no tensor uses`, file);
    if (s.bytes) throw new InvalidFileError(`storage "${key}" is listed twice`, file);
    if (pos + 8 > buf.length) throw new InvalidFileError(`storage "${key}" is cut off; is the file truncated?`, file);
    const numel = view.getBigInt64(pos, true);
    if (numel !== BigInt(s.numel)) throw new InvalidFileError(`storage "${key}" holds ${numel} elements, the pickle says ${s.numel}`, file);
    const nbytes = s.numel * DTYPE_SIZE[s.dtype];
    if (nbytes > buf.length - pos - 8) throw new InvalidFileError(`storage "${key}" is cut off; is the file truncated?`, file);
    s.bytes = buf.subarray(pos + 8, pos + 8 + nbytes);
    pos += 8 + nbytes;
  }
  for (const s of storages.values()) {
    if (!s.bytes) throw new InvalidFileError(`storage "${s.key}" has no data`, file);
  }
  return stateDict(main.value, buf.length, file);
}

/** The unpickled top-level dict → tensors. Copies only non-contiguous tensors. */
function stateDict(value: PyValue, fileSize: number, file: string): Map<string, RawTensor> {
  if (!(value instanceof Map)) throw new InvalidFileError(`the checkpoint holds ${describe(value)}, not a state dict`, file);
  const out = new Map<string, RawTensor>();
  const done = new Map<LazyTensor, Uint8Array>();
  // A hostile file could ask for the same big strided view many times; allow no more copying than the file holds.
  let copyBudget = fileSize;
  for (const [name, t] of value) {
    if (typeof name !== 'string') throw new InvalidFileError(`state dict key ${describe(name)} is not a string`, file);
    if (!(t instanceof LazyTensor)) throw new InvalidFileError(`state dict entry "${name}" is ${describe(t)}, not a tensor`, file);
    let data = done.get(t);
    if (!data) {
      const { dtype } = t.ref.storage;
      const es = DTYPE_SIZE[dtype];
      const bytes = t.ref.storage.bytes!;
      const offset = t.ref.offset + t.offset;
      const numel = t.size.reduce((n, d) => n * d, 1);
      if (isContiguous(t.size, t.stride)) {
        data = bytes.subarray(offset * es, (offset + numel) * es);
      } else {
        copyBudget -= numel * es;
        if (copyBudget < 0) throw new InvalidFileError('non-contiguous tensors would need more memory than the file holds', file);
        data = gather(bytes, es, offset, t.size, t.stride, numel);
      }
      done.set(t, data);
    }
    out.set(name, { name, dtype: t.ref.storage.dtype, dims: [...t.size], data });
  }
  return out;
}

/** Row-major, as torch's is_contiguous: the stride of a size-1 dimension does not matter. */
function isContiguous(size: number[], stride: number[]): boolean {
  let expected = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    if (size[i] === 0) return true;
    if (size[i] !== 1 && stride[i] !== expected) return false;
    expected *= size[i]!;
  }
  return true;
}

/** Copies a strided view into a new row-major buffer, a row at a time where the last stride is 1. */
function gather(src: Uint8Array, es: number, offset: number, size: number[], stride: number[], numel: number): Uint8Array {
  const out = new Uint8Array(numel * es);
  const rank = size.length;
  const inner = size[rank - 1]!;
  const innerStride = stride[rank - 1]!;
  const index = new Array<number>(rank - 1).fill(0);
  let base = offset;
  let o = 0;
  for (let row = numel / inner; row > 0; row--) {
    if (innerStride === 1) {
      out.set(src.subarray(base * es, (base + inner) * es), o);
      o += inner * es;
    } else {
      for (let j = 0; j < inner; j++) {
        const s = (base + j * innerStride) * es;
        for (let b = 0; b < es; b++) out[o++] = src[s + b]!;
      }
    }
    for (let d = rank - 2; d >= 0; d--) {
      base += stride[d]!;
      if (++index[d]! < size[d]!) break;
      base -= stride[d]! * size[d]!;
      index[d] = 0;
    }
  }
  return out;
}
