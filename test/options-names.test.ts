/**
 * Unknown option names are InvalidInputErrors naming the key and the name meant (transformers users
 * write snake_case: `top_k` → `topK`), in every public function that takes an options object.
 */
import test from 'ava';
import {
  InvalidInputError,
  createBatcher,
  loadModel,
  loadTokenizer,
  pipeline,
  resolveModel,
  tokenizerFromJSON,
  tokenizerFromVocab,
  readCheckpoint,
} from '../src-ts/index.js';
import { camelCase, checkOptionNames, suggestName } from '../src-ts/options.js';
import { createMlmCollator, createTrainer, evaluate, fit, initTrainableModel, scheduleLambda } from '../src-ts/training/index.js';
import { fixture } from './helpers/fixtures.js';

const unknown = (key: string, meant?: string) => ({
  instanceOf: InvalidInputError,
  message: meant ? new RegExp(`"${key}".*did you mean "${meant}"`) : new RegExp(`"${key}"`),
});

test('the helper: camelCase suggestions, near spellings, and the list when nothing is close', (t) => {
  t.is(camelCase('top_k'), 'topK');
  t.is(camelCase('max-batch-tokens'), 'maxBatchTokens');
  t.is(suggestName('aggregation_strategy', ['aggregationStrategy', 'stride']), 'aggregationStrategy');
  t.is(suggestName('devcie', ['device', 'dtype', 'threads']), 'device');
  t.is(suggestName('maxBatchTokenz', ['maxBatchTokens', 'maxBatchSize']), 'maxBatchTokens');
  t.is(suggestName('TopK', ['topK']), 'topK');
  t.is(suggestName('lr', ['learningRate', 'eps']), undefined);
  t.throws(() => checkOptionNames({ lr: 5 }, ['learningRate', 'eps'], 'createTrainer() options'), {
    instanceOf: InvalidInputError,
    message: /createTrainer\(\) options: unknown option "lr"; known options: learningRate, eps/,
  });
  t.notThrows(() => checkOptionNames(undefined, ['a'], 'x'));
  t.notThrows(() => checkOptionNames({ a: 1 }, ['a'], 'x'));
  t.throws(() => checkOptionNames([1], ['a'], 'x'), { instanceOf: InvalidInputError, message: /must be an object/ });
});

test('pipelines: per-call and pipeline() options', async (t) => {
  await using fill = await pipeline('fill-mask', fixture('tiny-bert-mlm'), { threads: 1 });
  await t.throwsAsync(fill('the [MASK] sat', { top_k: 2 } as never), unknown('top_k', 'topK'));
  t.is((await fill('the [MASK] sat', { topK: 2 })).length, 2);
  await t.throwsAsync(fill('the [MASK] sat', { tokenizeOptions: { max_length: 8 } } as never), unknown('max_length', 'maxLength'));
  await using ner = await pipeline('ner', fixture('tiny-bert-tokcls'), { threads: 1 });
  await t.throwsAsync(ner('Paris is nice', { aggregation_strategy: 'simple' } as never), unknown('aggregation_strategy', 'aggregationStrategy'));
  await t.throwsAsync(pipeline('fill-mask', fixture('tiny-bert-mlm'), { devcie: 'cpu' } as never), unknown('devcie', 'device'));
  await t.throwsAsync(pipeline('sentence-embeddings', fixture('tiny-bert-model'), { max_seq_length: 8 } as never), unknown('max_seq_length', 'maxSeqLength'));
  await using cls = await pipeline('text-classification', fixture('tiny-bert-seqcls'), { threads: 1 });
  await t.throwsAsync(cls('good', { function_to_apply: 'none' } as never), unknown('function_to_apply', 'functionToApply'));
});

test('models: loadModel, forward, forwardPacked, createBatcher and its calls', async (t) => {
  await t.throwsAsync(loadModel(fixture('tiny-bert-model'), { devcie: 'cpu' } as never), unknown('devcie', 'device'));
  await t.throwsAsync(resolveModel(fixture('tiny-bert-model'), { cache_dir: '/x' } as never), unknown('cache_dir', 'cacheDir'));
  await using model = await loadModel(fixture('tiny-bert-seqcls'), { threads: 1 });
  const batch = model.tokenizer.encodeBatch(['the cat']);
  await t.throwsAsync(model.forward(batch, { output_hidden_states: true } as never), unknown('output_hidden_states', 'outputHiddenStates'));
  await t.throwsAsync(model.forwardPacked(batch.toPacked(), { logits_tokens: new Int32Array(1) } as never), unknown('logits_tokens', 'logitsTokens'));
  t.throws(() => createBatcher(model, { maxBatchTokenz: 5 } as never), unknown('maxBatchTokenz', 'maxBatchTokens'));
  const batcher = createBatcher(model);
  await t.throwsAsync(batcher.classify('the cat', { top_k: 1 } as never), unknown('top_k', 'topK'));
  await t.throwsAsync(batcher.embed('the cat', { normalise: true } as never), unknown('normalise', 'normalize'));
  await t.throwsAsync(batcher.forward('the cat', { timeout_ms: 5 } as never), unknown('timeout_ms', 'timeoutMs'));
  await batcher.close();
});

test('tokenizers: loading, encode, encodeBatch, decode', async (t) => {
  const dir = fixture('tiny-bert-seqcls');
  await t.throwsAsync(loadTokenizer(dir, { do_lower_case: false } as never), unknown('do_lower_case', 'doLowerCase'));
  t.throws(() => tokenizerFromVocab('[UNK]\na\n', { do_lower_case: false } as never), unknown('do_lower_case', 'doLowerCase'));
  t.throws(() => tokenizerFromJSON('{}', { model_max_length: 8 } as never), unknown('model_max_length', 'modelMaxLength'));
  const tok = await loadTokenizer(dir);
  t.throws(() => tok.encode('a', { max_length: 4 } as never), unknown('max_length', 'maxLength'));
  t.throws(() => tok.encode('a', 'b', { add_special_tokens: false } as never), unknown('add_special_tokens', 'addSpecialTokens'));
  t.throws(() => tok.encodeBatch(['a'], { padding: true, return_overflowing_tokens: true } as never), unknown('return_overflowing_tokens'));
  t.throws(() => tok.decode([1], { skip_special_tokens: true } as never), unknown('skip_special_tokens', 'skipSpecialTokens'));
  t.throws(() => tok.setTruncation({ maxLength: 8, max_length: 8 } as never), unknown('max_length', 'maxLength'));
  t.throws(() => tok.setPadding({ pad_to_multiple_of: 8 } as never), unknown('pad_to_multiple_of', 'padToMultipleOf'));
  await t.throwsAsync(readCheckpoint(dir, { lazzy: true } as never), unknown('lazzy', 'lazy'));
});

test('training: createTrainer, fit, evaluate, computeGradients, collators, schedules, init, save', async (t) => {
  await using model = await loadModel(fixture('tiny-bert-seqcls'), { training: true, threads: 1 });
  t.throws(() => createTrainer(model, { lr: 5, warmup_steps: 10 } as never), unknown('lr'));
  t.throws(() => createTrainer(model, { learningRate: 1e-3, warmup_steps: 10 } as never), unknown('warmup_steps', 'warmupSteps'));
  const ex = model.tokenizer.encode('the cat');
  const examples = [{ inputIds: Array.from(ex.ids), label: 1 }];
  await t.throwsAsync(fit(model, { train: examples, learningRate: 1e-3, num_train_epochs: 1 } as never), unknown('num_train_epochs'));
  await t.throwsAsync(evaluate(model, examples as never, { batch_size: 2 } as never), unknown('batch_size', 'batchSize'));
  const trainable = model as unknown as { computeGradients: (i: unknown, l: unknown, o: unknown) => Promise<unknown>; save: (d: string, o: unknown) => Promise<void> };
  await t.throwsAsync(trainable.computeGradients({ inputIds: [Array.from(ex.ids)] }, { labels: [1] }, { loss_scale: 2 }), unknown('loss_scale', 'lossScale'));
  await t.throwsAsync(trainable.save('/nonexistent/never-written', { safe_serialization: true }), unknown('safe_serialization'));
  t.throws(() => (model as unknown as { setDropout: (s: unknown) => void }).setDropout({ hidden_dropout_prob: 0.1 }), unknown('hidden_dropout_prob'));
  t.throws(() => createMlmCollator(model.tokenizer, { mlm_probability: 0.2 } as never), unknown('mlm_probability', 'mlmProbability'));
  t.throws(() => scheduleLambda({ schedule: 'linear', warmupSteps: 0, totalSteps: 3, num_cycles: 1 } as never), unknown('num_cycles', 'numCycles'));
  await t.throwsAsync(initTrainableModel({ architecture: 'BertModel', from_pretrained: 'x' } as never), unknown('from_pretrained'));
});
