/**
 * Decoders (tokens → text) as `tokenizers` chains them: each turns the list of token strings into
 * another list, and the results are concatenated. WordPiece, ByteLevel, Metaspace, Replace, Strip,
 * Fuse, ByteFallback, BPEDecoder and Sequence. Plus transformers' `clean_up_tokenization`.
 */
import { BYTE_CHARS } from './pre-tokenizers.js';

export type Decoder = (tokens: string[]) => string[];

/** transformers' `clean_up_tokenization` (the same replacements as the WordPiece decoder's, bar one). */
export function cleanUpTokenization(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

/** The Rust WordPiece decoder's per-token cleanup. */
function decoderCleanup(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(' do not', " don't")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

export function wordPieceDecoder(prefix: string, cleanup: boolean): Decoder {
  return (tokens) =>
    tokens.map((t, i) => {
      if (i !== 0) t = t.startsWith(prefix) ? t.slice(prefix.length) : ' ' + t;
      return cleanup ? decoderCleanup(t) : t;
    });
}

const CHAR_BYTES = new Map<number, number>(BYTE_CHARS.map((c, b) => [c.charCodeAt(0), b]));
const lossy = new TextDecoder('utf-8', { ignoreBOM: true });

/** Byte characters back to bytes (a token with any other character keeps its UTF-8), then UTF-8 with U+FFFD for bad bytes. */
export function byteLevelDecoder(): Decoder {
  const enc = new TextEncoder();
  return (tokens) => {
    const bytes: number[] = [];
    for (const t of tokens) {
      const mark = bytes.length;
      let ok = true;
      for (let i = 0; i < t.length; i++) {
        const b = CHAR_BYTES.get(t.charCodeAt(i));
        if (b === undefined) {
          ok = false;
          break;
        }
        bytes.push(b);
      }
      if (!ok) {
        bytes.length = mark;
        for (const b of enc.encode(t)) bytes.push(b);
      }
    }
    return [lossy.decode(Uint8Array.from(bytes))];
  };
}

export function metaspaceDecoder(replacement: string, prependScheme: 'always' | 'first' | 'never'): Decoder {
  return (tokens) =>
    tokens.map((t, i) => t.replaceAll(replacement, i === 0 && prependScheme !== 'never' ? '' : ' '));
}

export function replaceDecoder(pattern: string | RegExp, content: string): Decoder {
  return (tokens) => tokens.map((t) => (typeof pattern === 'string' ? t.replaceAll(pattern, content) : t.replace(pattern, content)));
}

/** Removes `content` up to `start` times from the left and `stop` times from the right of each token. */
export function stripDecoder(content: string, start: number, stop: number): Decoder {
  return (tokens) =>
    tokens.map((t) => {
      const cps = [...t];
      let a = 0;
      let b = cps.length;
      for (let k = 0; k < start && a < b && cps[a] === content; k++) a++;
      for (let k = 0; k < stop && b > a && cps[b - 1] === content; k++) b--;
      return cps.slice(a, b).join('');
    });
}

export function fuseDecoder(): Decoder {
  return (tokens) => [tokens.join('')];
}

/** Runs of `<0xXX>` tokens become the UTF-8 text they spell (U+FFFD per token when invalid). */
export function byteFallbackDecoder(): Decoder {
  const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  return (tokens) => {
    const out: string[] = [];
    let pending: number[] = [];
    const flush = (): void => {
      if (!pending.length) return;
      try {
        out.push(strict.decode(Uint8Array.from(pending)));
      } catch {
        for (let k = 0; k < pending.length; k++) out.push('\ufffd');
      }
      pending = [];
    };
    for (const t of tokens) {
      const m = /^<0x([0-9A-F]{2})>$/.exec(t);
      if (m) pending.push(parseInt(m[1]!, 16));
      else {
        flush();
        out.push(t);
      }
    }
    flush();
    return out;
  };
}

/** The BPE decoder: the end-of-word suffix becomes a space (nothing after the last token). */
export function bpeDecoder(suffix: string): Decoder {
  return (tokens) => tokens.map((t, i) => t.replaceAll(suffix, i === tokens.length - 1 ? '' : ' '));
}

export function sequenceDecoder(list: Decoder[]): Decoder {
  return (tokens) => {
    for (const d of list) tokens = d(tokens);
    return tokens;
  };
}
