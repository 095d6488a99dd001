import { loadTokenizer } from '../../tokenizer/index.js';
import { HUB_OPTIONS, INPUT_OPTIONS, type Command } from '../app.js';
import { textPairOf } from '../inputs.js';
import { positiveInt } from '../usage.js';

export const tokenize: Command = {
  name: 'tokenize',
  summary: "split texts into the model's tokens and ids",
  usage: [
    'bertkit tokenize --model ID|DIR [TEXT...]',
    '',
    'Each input is a text, or (JSON Lines) {"text": ..., "text_pair": ...} or ["text", "pair"].',
    'Prints tokens, ids, token type ids and character offsets per input.',
    '',
    'bertkit tokenize -m google-bert/bert-base-uncased "Hello, world!"',
  ],
  options: {
    model: { type: 'string', short: 'm', value: 'ID|DIR', description: 'model folder or Hugging Face Hub id (its tokenizer is used)' },
    ...HUB_OPTIONS,
    ...INPUT_OPTIONS,
    'max-length': { type: 'string', value: 'N', description: 'truncate to N tokens (special tokens included)' },
    'no-special-tokens': { type: 'boolean', description: 'leave out [CLS] and [SEP]' },
  },
  async run(ctx) {
    const maxLength = ctx.str('max-length') === undefined ? undefined : positiveInt(ctx.str('max-length'), 'max-length', 0);
    const tokenizer = await loadTokenizer(await ctx.modelDir());
    const out = ctx.writer(
      [{ header: 'text', max: 40 }, { header: 'tokens', max: 80 }, { header: 'ids', max: 60 }, { header: 'n', align: 'right' }],
      (r) => {
        const { text, tokens, ids } = r as { text: string; tokens: string[]; ids: number[] };
        return [text, tokens.join(' '), ids.join(' '), String(ids.length)];
      },
    );
    for await (const batch of ctx.batches()) {
      const items = batch.map(textPairOf);
      const encodings = tokenizer.encodeBatch(
        items.map((x) => (x.pair === undefined ? x.text : ([x.text, x.pair] as const))),
        { padding: false, addSpecialTokens: !ctx.flag('no-special-tokens'), ...(maxLength ? { maxLength, truncation: true } : {}) },
      );
      for (let i = 0; i < items.length; i++) {
        const e = encodings.encodings[i]!;
        await out.write({
          text: items[i]!.text,
          ...(items[i]!.pair === undefined ? {} : { text_pair: items[i]!.pair }),
          tokens: e.tokens,
          ids: Array.from(e.ids),
          typeIds: Array.from(e.typeIds),
          offsets: e.offsets,
        });
      }
    }
    await out.end();
  },
};
