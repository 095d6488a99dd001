/**
 * A reader for SentencePiece model files (`spiece.model`, a protobuf ModelProto): the pieces with
 * their scores and types, the trainer's model type, unk id and byte_fallback, and the normaliser's
 * name and precompiled charsmap. Only the fields a tokenizer needs; unknown fields are skipped.
 */
import { InvalidFileError } from '../errors.js';

export const PIECE_NORMAL = 1;
export const PIECE_UNKNOWN = 2;
export const PIECE_CONTROL = 3;
export const PIECE_USER_DEFINED = 4;
export const PIECE_BYTE = 6;

export interface SpmPiece {
  piece: string;
  score: number;
  type: number;
}

export interface SpmModel {
  pieces: SpmPiece[];
  /** 1 = Unigram, 2 = BPE, 3 = word, 4 = char. */
  modelType: number;
  unkId: number;
  byteFallback: boolean;
  normalizerName: string;
  charsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    private readonly file: string | undefined,
    pos = 0,
    readonly end = buf.length,
  ) {
    this.pos = pos;
  }

  fail(why: string): never {
    throw new InvalidFileError(`not a valid SentencePiece model (${why})`, this.file);
  }

  varint(): number {
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    this.fail('varint too long');
  }

  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.end) this.fail('field runs past the end');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  sub(): Reader {
    const n = this.varint();
    if (this.pos + n > this.end) this.fail('message runs past the end');
    const r = new Reader(this.buf, this.file, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  float(): number {
    if (this.pos + 4 > this.end) this.fail('truncated float');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      const n = this.varint();
      this.pos += n;
    }
    else if (wire === 5) this.pos += 4;
    else this.fail(`wire type ${wire}`);
    if (this.pos > this.end) this.fail('field runs past the end');
  }

  /** Calls `f(field, wire)` for each field; `f` reads the value or returns false to skip it. */
  each(f: (field: number, wire: number) => boolean): void {
    while (this.pos < this.end) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (!f(field, wire)) this.skip(wire);
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function readSentencePieceModel(buf: Uint8Array, file?: string): SpmModel {
  const r = new Reader(buf, file);
  const m: SpmModel = {
    pieces: [],
    modelType: 1,
    unkId: 0,
    byteFallback: false,
    normalizerName: '',
    charsmap: new Uint8Array(0),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
  };
  const text = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return r.fail('a string is not UTF-8');
    }
  };
  const top = new Reader(buf, file);
  top.each((field, wire) => {
    if (field === 1 && wire === 2) {
      const sub = top.sub();
      const p: SpmPiece = { piece: '', score: 0, type: PIECE_NORMAL };
      sub.each((f, w) => {
        if (f === 1 && w === 2) p.piece = text(sub.bytes());
        else if (f === 2 && w === 5) p.score = sub.float();
        else if (f === 3 && w === 0) p.type = sub.varint();
        else return false;
        return true;
      });
      m.pieces.push(p);
      return true;
    }
    if (field === 2 && wire === 2) {
      const sub = top.sub();
      sub.each((f, w) => {
        if (f === 3 && w === 0) m.modelType = sub.varint();
        else if (f === 35 && w === 0) m.byteFallback = sub.varint() !== 0;
        else if (f === 40 && w === 0) m.unkId = sub.varint();
        else return false;
        return true;
      });
      return true;
    }
    if (field === 3 && wire === 2) {
      const sub = top.sub();
      sub.each((f, w) => {
        if (f === 1 && w === 2) m.normalizerName = text(sub.bytes());
        else if (f === 2 && w === 2) m.charsmap = sub.bytes();
        else if (f === 3 && w === 0) m.addDummyPrefix = sub.varint() !== 0;
        else if (f === 4 && w === 0) m.removeExtraWhitespaces = sub.varint() !== 0;
        else return false;
        return true;
      });
      return true;
    }
    return false;
  });
  if (m.pieces.length === 0) r.fail('no pieces');
  if (m.unkId >= m.pieces.length) r.fail(`unk_id ${m.unkId} outside the ${m.pieces.length} pieces`);
  return m;
}
