/**
 * The Node-API version an addon file declares, read from the file without loading it. Node.js 20
 * crashes (SIGSEGV) while loading an addon that declares a newer Node-API version than it offers,
 * so the loader checks first. The version is what the exported
 * `node_api_module_get_api_version_v1` returns; built with NAPI_VERSION set, that function is a
 * single "return constant" (x86-64: `mov eax, imm32; ret`; aarch64: `movz w0, #imm; ret`), found
 * through the ELF dynamic symbol table, which stripping keeps. Anything else (another format, an
 * unusual build, a damaged file) answers undefined: then the loader simply loads the file.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const SYMBOL = 'node_api_module_get_api_version_v1';

/** Reads `length` bytes at `offset` (fewer at the end of the file). */
function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, offset);
  return buf.subarray(0, n);
}

/** Where the constant is: the version and the byte offset (in `code`) of the instruction or immediate holding it. */
function decode(machine: number, code: Buffer): { version: number; at: number } | undefined {
  if (machine === 62) {
    let i = 0;
    if (code.readUInt32BE(0) === 0xf30f1efa) i = 4; // endbr64
    if (code[i] === 0xb8 && code[i + 5] === 0xc3) return { version: code.readInt32LE(i + 1), at: i + 1 };
    // Unoptimised: push rbp; mov rbp, rsp; mov eax, imm32; pop rbp; ret.
    if (code.readUInt32BE(i) === 0x554889e5 && code[i + 4] === 0xb8 && code[i + 9] === 0x5d && code[i + 10] === 0xc3) return { version: code.readInt32LE(i + 5), at: i + 5 };
    return undefined;
  }
  if (machine === 183) {
    for (let i = 0; i + 8 <= code.length && i <= 8; i += 4) {
      const insn = code.readUInt32LE(i);
      // movz w0, #imm16 (hw = 0), then ret.
      if ((insn & 0xffe0001f) === 0x52800000 && code.readUInt32LE(i + 4) === 0xd65f03c0) return { version: (insn >>> 5) & 0xffff, at: i };
    }
  }
  return undefined;
}

/** The Node-API version `file` declares, or undefined when it cannot be told without loading it. */
export function declaredNapiVersion(file: string): number | undefined {
  return locateNapiVersion(file)?.version;
}

/**
 * The declared version, the file offset of the instruction (aarch64) or immediate (x86-64) that
 * holds it, and the ELF machine (62 x86-64, 183 aarch64); undefined when not found.
 */
export function locateNapiVersion(file: string): { version: number; offset: number; machine: number } | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const h = readAt(fd, 0, 64);
    // ELF, 64-bit, little-endian only (linux-x64 and linux-arm64).
    if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return undefined;
    const machine = h.readUInt16LE(18);
    const shoff = Number(h.readBigUInt64LE(0x28));
    const shentsize = h.readUInt16LE(0x3a);
    const shnum = h.readUInt16LE(0x3c);
    if (shentsize < 64 || shnum === 0 || shnum > 4096) return undefined;
    const table = readAt(fd, shoff, shentsize * shnum);
    if (table.length < shentsize * shnum) return undefined;
    const sections = Array.from({ length: shnum }, (_, i) => {
      const o = i * shentsize;
      return {
        type: table.readUInt32LE(o + 4),
        addr: Number(table.readBigUInt64LE(o + 16)),
        offset: Number(table.readBigUInt64LE(o + 24)),
        size: Number(table.readBigUInt64LE(o + 32)),
        link: table.readUInt32LE(o + 40),
      };
    });
    const dynsym = sections.find((s) => s.type === 11); // SHT_DYNSYM
    const dynstr = dynsym && sections[dynsym.link];
    if (!dynsym || !dynstr || dynsym.size > 1 << 24 || dynstr.size > 1 << 24) return undefined;
    const syms = readAt(fd, dynsym.offset, dynsym.size);
    const names = readAt(fd, dynstr.offset, dynstr.size);
    for (let o = 0; o + 24 <= syms.length; o += 24) {
      const name = syms.readUInt32LE(o);
      if (name >= names.length || names.toString('latin1', name, name + SYMBOL.length + 1) !== `${SYMBOL}\0`) continue;
      const value = Number(syms.readBigUInt64LE(o + 8));
      const text = sections.find((s) => s.type === 1 && value >= s.addr && value < s.addr + s.size); // SHT_PROGBITS
      if (!text) return undefined;
      const start = text.offset + (value - text.addr);
      const found = decode(machine, readAt(fd, start, 16));
      return found && { version: found.version, offset: start + found.at, machine };
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
