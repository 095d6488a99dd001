/** Every `bertkit` command, in the order --help lists them. */
import type { Command } from '../app.js';
import { attention } from './attention.js';
import { bench } from './bench.js';
import { doctor } from './doctor.js';
import { download } from './download.js';
import { classify, embed, fillMask, ner, qa, rerank } from './tasks.js';
import { tokenize } from './tokenize.js';
import { finetune, pretrain } from './train.js';
import { worker } from './worker.js';

export const commands: readonly Command[] = [embed, classify, ner, qa, fillMask, rerank, worker, tokenize, attention, download, bench, doctor, finetune, pretrain];
