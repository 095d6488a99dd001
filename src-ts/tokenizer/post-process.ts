/**
 * Post-processing of tokenized sequences, as `tokenizers`' post-processors do it: the template's
 * special tokens around the windows of each sequence (TemplateProcessing, BertProcessing,
 * RobertaProcessing), and ByteLevel's offset trimming.
 */
import type { TokenBuffer } from './buffer.js';
import type { TokenNamer } from './encoding.js';
import type { TemplatePiece } from './spec.js';

const SPACE_LIKE = /[\u0120\p{White_Space}]/u;

export function pushSpecial(out: TokenBuffer, p: { ids: number[]; tokens: string[]; typeId: number }, namer: TokenNamer): void {
  for (let i = 0; i < p.ids.length; i++) {
    const at = out.length;
    const id = p.ids[i]!;
    out.push(id, 0, 0, -1);
    out.typeIds[at] = p.typeId;
    out.seqs[at] = -1;
    const tok = p.tokens[i]!;
    if (tok !== namer.defaultToken(id)) out.setOverride(at, tok);
  }
}

/**
 * Writes the template with windows of the tokenized sequences. Main windows take the template's
 * type ids; overflow windows keep the ids they were tokenized with (0 / 1), as in `tokenizers`
 * (RobertaProcessing: 0 everywhere).
 */
export function writeTemplate(
  namer: TokenNamer,
  typeIdsAllZero: boolean,
  out: TokenBuffer,
  tmpl: TemplatePiece[],
  addSpecial: boolean,
  a: TokenBuffer,
  aw: [number, number],
  aMain: boolean,
  b: TokenBuffer | null,
  bw: [number, number] | null,
  bMain: boolean,
): void {
  for (const p of tmpl) {
    if (p.kind === 'special') {
      if (addSpecial) pushSpecial(out, p, namer);
      continue;
    }
    const s = out.length;
    if (p.seq === 0) {
      out.append(a, aw[0], aw[1] - aw[0]);
      out.mark(s, out.length, aMain ? p.typeId : 0, 0);
    } else if (b && bw) {
      out.append(b, bw[0], bw[1] - bw[0]);
      out.mark(s, out.length, bMain || typeIdsAllZero ? p.typeId : 1, 1);
    }
  }
}

/**
 * ByteLevel's process_offsets: a token's offsets leave out its leading and trailing spaces
 * (`Ġ` or whitespace in its string), except the one space add_prefix_space put before a first token.
 * Rust counts in characters, so the offsets move by code points of `text`.
 */
export function trimOffsets(out: TokenBuffer, s0: number, text: string, addPrefix: boolean, namer: TokenNamer): void {
  const ov = out.tokenOverrides;
  for (let i = s0; i < out.length; i++) {
    const tok = (ov && ov.get(i)) ?? namer.defaultToken(out.ids[i]!);
    let lead = 0;
    while (lead < tok.length && SPACE_LIKE.test(tok[lead]!)) lead++;
    if (lead === 0 && !SPACE_LIKE.test(tok[tok.length - 1] ?? 'x')) continue;
    let trail = 0;
    while (trail < tok.length && SPACE_LIKE.test(tok[tok.length - 1 - trail]!)) trail++;
    let s = out.starts[i]!;
    let e = out.ends[i]!;
    if (lead > 0) {
      if ((i === s0 || s === 0) && addPrefix && lead === 1) lead = 0;
      for (let k = 0; k < lead && s < e; k++) s += text.codePointAt(s)! > 0xffff ? 2 : 1;
      s = Math.min(s, e);
    }
    if (trail > 0) {
      let back = e;
      let k = 0;
      for (; k < trail && back > 0; k++) {
        const lo = text.charCodeAt(back - 1);
        back -= lo >= 0xdc00 && lo <= 0xdfff && back >= 2 && text.charCodeAt(back - 2) >= 0xd800 && text.charCodeAt(back - 2) <= 0xdbff ? 2 : 1;
      }
      if (k === trail) e = Math.max(back, s);
    }
    out.starts[i] = s;
    out.ends[i] = e;
  }
}
