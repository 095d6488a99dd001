/**
 * Just enough of the zip format to read what `torch.save` writes: uncompressed (STORED) entries,
 * found through the central directory, with ZIP64 records for archives past 4 GB. Every offset
 * and size is checked against the file before use.
 */
import { InvalidFileError } from '../errors.js';

const EOCD_SIG = 0x06054b50;
const EOCD_LEN = 22;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_LOCATOR_LEN = 20;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const CENTRAL_LEN = 46;
const LOCAL_SIG = 0x04034b50;
const LOCAL_LEN = 30;
const ZIP64_EXTRA_ID = 0x0001;

/** Entry name → its bytes (a view into `buf`). */
export function readZip(buf: Uint8Array, file: string): Map<string, Uint8Array> {
  function fail(message: string): never {
    throw new InvalidFileError(`invalid zip archive: ${message}`, file);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => {
    const v = view.getBigUint64(at, true);
    if (v > BigInt(buf.length)) fail(`a 64-bit size or offset (${v}) exceeds the file size ${buf.length}`);
    return Number(v);
  };
  const need = (at: number, len: number, what: string) => {
    if (at < 0 || at + len > buf.length) fail(`${what} at offset ${at} runs past the end of the file (${buf.length} bytes); is it truncated?`);
  };

  // The end-of-central-directory record is last, followed only by a comment of at most 64 KB.
  let eocd = -1;
  for (let at = buf.length - EOCD_LEN; at >= Math.max(0, buf.length - EOCD_LEN - 0xffff); at--) {
    if (u32(at) === EOCD_SIG && at + EOCD_LEN + u16(at + 20) <= buf.length) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail('no end-of-central-directory record (truncated, or not a zip file)');
  if (u16(eocd + 4) !== 0 || u16(eocd + 6) !== 0) fail('multi-disk archives are not supported');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - ZIP64_LOCATOR_LEN;
    need(loc, ZIP64_LOCATOR_LEN, 'ZIP64 locator');
    if (u32(loc) !== ZIP64_LOCATOR_SIG) fail('the end record points to ZIP64 but has no ZIP64 locator');
    const rec = u64(loc + 8);
    need(rec, 56, 'ZIP64 end-of-central-directory record');
    if (u32(rec) !== ZIP64_EOCD_SIG) fail('bad ZIP64 end-of-central-directory signature');
    count = u64(rec + 32);
    cdSize = u64(rec + 40);
    cdOffset = u64(rec + 48);
  }
  need(cdOffset, cdSize, 'central directory');
  if (count * CENTRAL_LEN > cdSize) fail(`${count} entries cannot fit a ${cdSize}-byte central directory`);

  const decoder = new TextDecoder('utf-8', { fatal: true });
  const entries = new Map<string, Uint8Array>();
  let at = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (at + CENTRAL_LEN > cdEnd) fail('central directory entries run past its end');
    if (u32(at) !== CENTRAL_SIG) fail(`bad central directory signature at offset ${at}`);
    const flags = u16(at + 8);
    const method = u16(at + 10);
    let compressedSize = u32(at + 20);
    let size = u32(at + 24);
    const nameLen = u16(at + 28);
    const extraLen = u16(at + 30);
    const commentLen = u16(at + 32);
    let localOffset = u32(at + 42);
    const next = at + CENTRAL_LEN + nameLen + extraLen + commentLen;
    if (next > cdEnd) fail('central directory entries run past its end');
    let name: string;
    try {
      name = decoder.decode(buf.subarray(at + CENTRAL_LEN, at + CENTRAL_LEN + nameLen));
    } catch {
      fail(`entry name at offset ${at} is not UTF-8`);
    }
    // ZIP64 extra field: the 64-bit values, in this order, of those fields stored as 0xffffffff.
    if (size === 0xffffffff || compressedSize === 0xffffffff || localOffset === 0xffffffff) {
      let x = at + CENTRAL_LEN + nameLen;
      const xEnd = x + extraLen;
      let found = false;
      while (x + 4 <= xEnd) {
        const id = u16(x);
        const len = u16(x + 2);
        if (x + 4 + len > xEnd) break;
        if (id === ZIP64_EXTRA_ID) {
          let f = x + 4;
          const take = () => {
            if (f + 8 > x + 4 + len) fail(`entry "${name}": ZIP64 extra field is too short`);
            const v = u64(f);
            f += 8;
            return v;
          };
          if (size === 0xffffffff) size = take();
          if (compressedSize === 0xffffffff) compressedSize = take();
          if (localOffset === 0xffffffff) localOffset = take();
          found = true;
          break;
        }
        x += 4 + len;
      }
      if (!found) fail(`entry "${name}" needs a ZIP64 extra field and has none`);
    }
    if (flags & 1) fail(`entry "${name}" is encrypted`);
    if (method !== 0) fail(`entry "${name}" is compressed (method ${method}); torch.save writes uncompressed entries`);
    if (compressedSize !== size) fail(`entry "${name}" is stored with compressed size ${compressedSize} != size ${size}`);
    need(localOffset, LOCAL_LEN, `local header of "${name}"`);
    if (u32(localOffset) !== LOCAL_SIG) fail(`bad local header signature for "${name}"`);
    const dataStart = localOffset + LOCAL_LEN + u16(localOffset + 26) + u16(localOffset + 28);
    need(dataStart, size, `data of "${name}"`);
    if (entries.has(name)) fail(`entry "${name}" appears twice`);
    entries.set(name, buf.subarray(dataStart, dataStart + size));
    at = next;
  }
  return entries;
}
