import { downloadModel } from '../../hub/index.js';
import { HUB_OPTIONS, type Command } from '../app.js';
import { UsageError } from '../usage.js';

export const download: Command = {
  name: 'download',
  summary: 'download Hub models into the Hugging Face cache (for offline use)',
  usage: [
    'bertkit download ID... [--revision REV]',
    '',
    'Fetches what a BERT model needs (config, weights in the preferred format, tokenizer and',
    'sentence-transformers files) into the cache Python tools share, and prints each snapshot folder.',
    'Afterwards the model loads with HF_HUB_OFFLINE=1 (or --offline).',
    '',
    'bertkit download google-bert/bert-base-uncased',
  ],
  options: {
    model: { type: 'string', short: 'm', value: 'ID', description: 'a Hub id (as a positional argument)' },
    ...HUB_OPTIONS,
    format: { type: 'string', short: 'f', value: 'FMT', description: 'jsonl or table (default: table on a terminal, else jsonl)' },
  },
  async run(ctx) {
    const ids = [...(ctx.str('model') === undefined ? [] : [ctx.str('model')!]), ...ctx.positionals];
    if (ids.length === 0) throw new UsageError('name at least one model (org/name)');
    const out = ctx.writer([{ header: 'model' }, { header: 'revision' }, { header: 'path', max: 200 }], (r) => {
      const { model, revision, path } = r as Record<string, string>;
      return [model!, revision!, path!];
    });
    for (const id of ids) {
      const bar = ctx.progress(`downloading ${id}`, 'bytes');
      let path: string;
      try {
        path = await downloadModel(id, { ...ctx.hubOptions(), onProgress: (p) => bar.update(p.loaded, p.total) });
      } finally {
        bar.finish();
      }
      await out.write({ model: id, revision: ctx.str('revision') ?? 'main', path });
    }
    await out.end();
  },
};
