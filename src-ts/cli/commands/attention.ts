/**
 * `bertkit attention`: one text (or pair) through a model, written as a self-contained HTML page
 * (head view, model view, summary), an SVG or PNG of the layers x heads grid or of one head, or
 * the raw matrices as JSON.
 */
import { existsSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { OutputFileError } from '../../errors.js';
import { loadModel, type LoadModelOptions } from '../../model/load.js';
import { renderAttention, writeFileAtomic, type AttentionPrecision, type HeadSelection } from '../../visualize/index.js';
import { MODEL_OPTIONS, type Command } from '../app.js';
import { UsageError, nonNegativeInt, oneOf } from '../usage.js';

const FORMATS = ['html', 'svg', 'png', 'json'] as const;
type Format = (typeof FORMATS)[number];
const BY_EXTENSION: Record<string, Format> = { '.html': 'html', '.htm': 'html', '.svg': 'svg', '.png': 'png', '.json': 'json' };

function sizeOf(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} kB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A Hub id as given; a local folder by its name (a full path says little on the page). */
function displayName(model: string): string {
  return existsSync(model) ? basename(resolve(model)) : model;
}

export const attention: Command = {
  name: 'attention',
  summary: 'see attention weights: an HTML page (head view, model view, rollout), SVG, PNG or JSON',
  usage: [
    'bertkit attention --model ID|DIR TEXT [--pair TEXT] [-o FILE]',
    '',
    'Writes one self-contained HTML file (no network, opens from disk) with a head view, a model view',
    '(layers x heads), a summary with attention rollout, and the tokenization; or, with --format,',
    'the layers x heads grid (or one --layer L --head H map) as SVG / PNG, or the matrices as JSON.',
    'Layers and heads count from 0. The format follows the extension of -o when --format is not given.',
    '',
    'bertkit attention -m google-bert/bert-base-uncased "The cat sat on the mat." -o cat.html',
    'bertkit attention -m DIR "Where is it?" --pair "It is here." --format svg --layer 3 --head 5',
  ],
  options: {
    ...MODEL_OPTIONS,
    pair: { type: 'string', value: 'TEXT', description: 'second text of a pair (question + context, sentence pairs)' },
    output: { type: 'string', short: 'o', value: 'FILE', description: "where to write (default attention.FORMAT; '-': stdout)" },
    format: { type: 'string', short: 'f', value: 'FMT', description: 'html (default), svg, png or json' },
    layer: { type: 'string', value: 'L', description: 'svg / png: only this layer (with --head)' },
    head: { type: 'string', value: 'H', description: 'svg / png: only this head (with --layer)' },
    truncate: { type: 'boolean', description: "cut the input to the model's maximum length instead of refusing it" },
    precision: { type: 'string', value: 'P', description: 'html: auto (default), float32 or uint16 storage of the probabilities' },
  },
  async run(ctx) {
    if (ctx.positionals.length === 0) throw new UsageError('give the text to look at (in quotes)');
    if (ctx.positionals.length > 1) throw new UsageError(`one text only (got ${ctx.positionals.length} arguments: put the text in quotes; --pair for a second text)`);
    const text = ctx.positionals[0]!;
    const output = ctx.str('output');
    const fromExtension = output === undefined || output === '-' ? undefined : BY_EXTENSION[extname(output).toLowerCase()];
    const format: Format = oneOf(ctx.str('format'), 'format', FORMATS, fromExtension ?? 'html');
    const layer = ctx.str('layer') === undefined ? undefined : nonNegativeInt(ctx.str('layer'), 'layer', 0);
    const head = ctx.str('head') === undefined ? undefined : nonNegativeInt(ctx.str('head'), 'head', 0);
    if ((layer === undefined) !== (head === undefined)) throw new UsageError('--layer and --head go together');
    if (layer !== undefined && format !== 'svg' && format !== 'png') throw new UsageError('--layer / --head select one map for --format svg or png');
    const precision = oneOf(ctx.str('precision'), 'precision', ['auto', 'float32', 'uint16'] as const) as AttentionPrecision | undefined;
    if (precision !== undefined && format !== 'html') throw new UsageError('--precision is for --format html');
    const file = output === '-' ? undefined : (output ?? `attention.${format}`);
    if (file === undefined && format === 'png' && ctx.io.stdout.isTTY) throw new UsageError('a PNG is not for a terminal: give -o FILE');
    // Refuse an unwritable folder before the model runs (the write itself checks again).
    if (file !== undefined) {
      await access(dirname(resolve(file)), constants.W_OK).catch((err: NodeJS.ErrnoException) => {
        throw new OutputFileError(
          err.code === 'ENOENT' ? `cannot write the output: its folder ${dirname(resolve(file))} does not exist` : `cannot write the output: no permission to write in ${dirname(resolve(file))}`,
          file,
          { cause: err },
        );
      });
    }

    const options: LoadModelOptions = {};
    const device = ctx.device();
    const threads = ctx.threads();
    const dtype = ctx.dtype();
    if (device !== undefined) options.device = device;
    if (threads !== undefined) options.threads = threads;
    if (dtype !== undefined) options.dtype = dtype;
    const model = await loadModel(await ctx.modelDir(), options);
    let content: string | Uint8Array;
    let tokens: number;
    try {
      const view = await renderAttention(model, text, {
        modelName: displayName(ctx.str('model')!),
        ...(ctx.str('pair') === undefined ? {} : { pair: ctx.str('pair')! }),
        ...(ctx.flag('truncate') ? { truncate: true } : {}),
        ...(precision === undefined ? {} : { precision }),
      });
      const selection: HeadSelection | undefined = layer === undefined ? undefined : { layer, head: head! };
      tokens = view.data.length;
      if (view.data.computed.truncated) ctx.io.stderr.write(`bertkit attention: the input was truncated to ${tokens} tokens\n`);
      content =
        format === 'html' ? view.html
        : format === 'svg' ? view.toSvg(selection)
        : format === 'png' ? view.toPng(selection)
        : `${JSON.stringify(view.toJSON())}\n`;
    } finally {
      await model.dispose();
    }
    if (file === undefined) {
      await new Promise<void>((res, rej) => ctx.io.stdout.write(content, (err) => (err ? rej(err) : res())));
      return;
    }
    await writeFileAtomic(file, content);
    const bytes = typeof content === 'string' ? Buffer.byteLength(content) : content.length;
    if (!ctx.flag('quiet')) ctx.io.stderr.write(`wrote ${file} (${format}, ${tokens} tokens, ${sizeOf(bytes)})\n`);
  },
};
