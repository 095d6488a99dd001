/** What a model folder says about serving it as an embedding model (sentence-transformers layout). */
import { join } from 'node:path';
import { readSentenceTransformersFolder, type PoolingMode } from '../pipelines/pooling.js';

export interface EmbeddingFolderSettings {
  /** The folder holding config.json and the weights (a sentence-transformers folder's Transformer module). */
  modelDir: string;
  /** True when the folder is a sentence-transformers one (modules.json). */
  sentenceTransformers: boolean;
  /** The Pooling module's modes; null when the folder names none. */
  pooling: PoolingMode[] | null;
  /** A Normalize module follows the pooling. */
  normalize: boolean;
  /** sentence_bert_config.json's max_seq_length, if any. */
  maxSeqLength: number | null;
  /** config_sentence_transformers.json's prompts and default prompt name. */
  prompts: Record<string, string>;
  defaultPromptName: string | null;
}

/**
 * Reads a model folder's sentence-transformers configuration (modules.json, 1_Pooling/config.json,
 * sentence_bert_config.json, config_sentence_transformers.json); a plain transformers folder gives
 * `sentenceTransformers: false` and nulls.
 */
export async function readEmbeddingSettings(dir: string): Promise<EmbeddingFolderSettings> {
  const st = await readSentenceTransformersFolder(dir);
  if (!st) return { modelDir: dir, sentenceTransformers: false, pooling: null, normalize: false, maxSeqLength: null, prompts: {}, defaultPromptName: null };
  return {
    modelDir: join(dir, st.transformerPath),
    sentenceTransformers: true,
    pooling: st.pooling,
    normalize: st.normalize,
    maxSeqLength: st.maxSeqLength,
    prompts: st.prompts,
    defaultPromptName: st.defaultPromptName,
  };
}
