/** question-answering against transformers 4.57's QuestionAnsweringPipeline goldens (tiny-bert-qa). */
import test from 'ava';
import { pipeline, InvalidInputError } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { kwargs, pipelineGolden, sameScoredList, SCORE_TOL } from './pipeline-helpers.js';

const g = pipelineGolden('tiny-bert-qa.question-answering.json');

test('every golden case: answers, spans, summed scores, order', async (t) => {
  await using qa = await pipeline('question-answering', fixture('tiny-bert-qa'), { threads: 1 });
  for (const [n, c] of g.cases.entries()) {
    const where = `case ${n} ${JSON.stringify(c.kwargs)}`;
    if (c.error) continue; // see the panic test below
    const out: any = await qa(c.inputs, kwargs(c.kwargs) as any);
    if (Array.isArray(c.output)) {
      sameScoredList(t, out, c.output, where);
      for (const a of out) t.is(a.answer, c.inputs.context.slice(a.start, a.end));
    } else {
      t.false(Array.isArray(out), where);
      t.is(out.answer, c.output.answer, where);
      t.is(out.start, c.output.start, where);
      t.is(out.end, c.output.end, where);
      t.true(Math.abs(out.score - c.output.score) <= SCORE_TOL, `${where}: ${out.score} vs ${c.output.score}`);
    }
  }
});

test('windows: the tokens of every window match transformers (question + context slice, stride 8)', async (t) => {
  await using qa = await pipeline('question-answering', fixture('tiny-bert-qa'), { threads: 1 });
  const tok = qa.tokenizer;
  for (const c of g.cases) {
    if (!c.windows_tokens) continue;
    const b = tok.encodeBatch([[c.inputs.question, c.inputs.context]], {
      truncation: 'only_second',
      maxLength: 32,
      stride: 8,
      returnOverflowing: true,
      padding: 'max_length',
    });
    t.deepEqual(
      b.encodings.map((e) => e.tokens),
      c.windows_tokens,
    );
  }
});

test('a question that leaves no room for the context: transformers panics, bertkit truncates it to maxQuestionLen', async (t) => {
  await using qa = await pipeline('question-answering', fixture('tiny-bert-qa'), { threads: 1 });
  const panics = g.cases.filter((c: any) => c.error);
  t.true(panics.length > 0);
  for (const c of panics) {
    t.is(c.error_type, 'PanicException');
    const out: any = await qa(c.inputs, kwargs(c.kwargs) as any);
    const list = Array.isArray(out) ? out : [out];
    t.true(list.length >= 1);
    for (const a of list) {
      t.is(a.answer, c.inputs.context.slice(a.start, a.end));
      t.true(a.score > 0 && a.score <= 1);
    }
    // The same as asking the truncated question (its first 16 tokens) directly.
    const q16 = qa.tokenizer.encode(c.inputs.question, { addSpecialTokens: false });
    const cut = c.inputs.question.slice(0, q16.offsets[15]![1]);
    const direct: any = await qa({ question: cut, context: c.inputs.context }, kwargs(c.kwargs) as any);
    t.deepEqual(out, direct);
    // Without the room even then: a clear error, not a crash.
    const err = await t.throwsAsync(qa(c.inputs, { ...kwargs(c.kwargs), maxQuestionLen: 40 } as any), { instanceOf: InvalidInputError });
    t.regex(err!.message, /leaves \d+ of maxSeqLen 32 for the context, not more than docStride 8/);
  }
});

test('options: topK, maxAnswerLen, handleImpossibleAnswer, alignToWords, defaults', async (t) => {
  await using qa = await pipeline('question-answering', fixture('tiny-bert-qa'), { threads: 1 });
  const c = g.cases[20]; // 16 windows at maxSeqLen 32
  const five: any = await qa(c.inputs, { maxSeqLen: 32, docStride: 8, topK: 5 });
  t.is(five.length, 5);
  for (let i = 1; i < 5; i++) t.true(five[i - 1].score >= five[i].score);
  const one: any = await qa(c.inputs, { maxSeqLen: 32, docStride: 8, topK: 1 });
  t.false(Array.isArray(one));
  // maxAnswerLen 1: single-token answers (one word here, as words are whole vocabulary entries).
  const short: any = await qa(c.inputs, { maxSeqLen: 32, docStride: 8, topK: 10, maxAnswerLen: 1 });
  for (const a of short) t.false(a.answer.includes(' '), a.answer);
  // handleImpossibleAnswer adds the empty answer at its [CLS] score.
  const imp: any = await qa(g.cases[0].inputs, { maxSeqLen: 32, docStride: 8, topK: 100, handleImpossibleAnswer: true });
  t.true(imp.some((a: any) => a.answer === '' && a.score > 0));
  // alignToWords false keeps token offsets: an answer may then be part of a word.
  const raw: any = await qa(c.inputs, { maxSeqLen: 32, docStride: 8, topK: 30, alignToWords: false });
  for (const a of raw) t.is(a.answer, c.inputs.context.slice(a.start, a.end));
  // Defaults: maxSeqLen = min(model_max_length 64, 384), docStride 32.
  const d: any = await qa(c.inputs);
  t.is(d.answer, c.inputs.context.slice(d.start, d.end));
  // Several inputs: one result each, in order.
  const both: any = await qa([g.cases[0].inputs, c.inputs], { maxSeqLen: 32, docStride: 8 });
  t.deepEqual(both[0], await qa(g.cases[0].inputs, { maxSeqLen: 32, docStride: 8 }));
  t.deepEqual(both[1], one);
});

test('bad inputs and options are typed errors', async (t) => {
  await using qa = await pipeline('question-answering', fixture('tiny-bert-qa'), { threads: 1 });
  const ok = { question: 'what?', context: 'a b c' };
  for (const bad of [null, 'text', [], { question: 'q' }, { question: '', context: 'c' }, { question: 'q', context: ' ' }, { question: 1, context: 'c' }]) {
    await t.throwsAsync(qa(bad as any), { instanceOf: InvalidInputError }, JSON.stringify(bad));
  }
  for (const o of [{ topK: 0 }, { maxAnswerLen: 0 }, { docStride: 40, maxSeqLen: 32 }, { maxSeqLen: 1.5 }, { handleImpossibleAnswer: 'yes' }]) {
    await t.throwsAsync(qa(ok, o as any), { instanceOf: InvalidInputError }, JSON.stringify(o));
  }
});
