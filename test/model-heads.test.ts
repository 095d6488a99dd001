/**
 * The head table (src-ts/model/heads.ts): every architecture maps to a head and back, and each
 * head's outputs have the shapes transformers gives. The model, the batcher and the trainer all
 * read this table, so the model fixtures' goldens test it end to end; this pins the table itself.
 */
import test from 'ava';
import { ARCHITECTURES } from '../src-ts/index.js';
import { HEADS, floatsPerToken, headOf, headOutputs, outputField, outputSpecs, takesChoices, withHead } from '../src-ts/model/heads.js';

const sizes = { hidden_size: 32, vocab_size: 100, num_labels: 3 };

test('every supported architecture has a head, and the head gives the architecture back', (t) => {
  for (const arch of ARCHITECTURES) {
    const head = headOf(arch);
    t.truthy(head, arch);
    t.is(withHead(arch, head!), arch);
  }
  t.is(headOf('BertModel'), 'base');
  t.is(headOf('BertForMaskedLM'), 'MaskedLM');
  // Family-independent: another family's names read the same.
  t.is(headOf('RobertaForSequenceClassification'), 'SequenceClassification');
  t.is(withHead('RobertaForMaskedLM', 'base'), 'RobertaModel');
  t.is(withHead('BertForPreTraining', 'MaskedLM'), 'BertForMaskedLM');
  t.is(headOf('BertForSomethingElse'), undefined);
  t.is(headOf('not an architecture'), undefined);
});

test('outputs and shapes per head', (t) => {
  const shape = (head: (typeof HEADS)[number], pooler = false) =>
    outputSpecs(head, sizes, pooler).map((o) => `${o.field}:${o.perToken ? 'T' : 'B'}x${o.width}${o.squeeze ? '!' : ''}`);
  t.deepEqual(shape('base'), ['lastHiddenState:Tx32']);
  t.deepEqual(shape('base', true), ['lastHiddenState:Tx32', 'poolerOutput:Bx32']);
  t.deepEqual(shape('MaskedLM', true), ['lastHiddenState:Tx32', 'logits:Tx100']);
  t.deepEqual(shape('NextSentencePrediction'), ['lastHiddenState:Tx32', 'poolerOutput:Bx32', 'logits:Bx2']);
  t.deepEqual(shape('PreTraining'), ['lastHiddenState:Tx32', 'poolerOutput:Bx32', 'predictionLogits:Tx100', 'seqRelationshipLogits:Bx2']);
  t.deepEqual(shape('SequenceClassification'), ['lastHiddenState:Tx32', 'poolerOutput:Bx32', 'logits:Bx3']);
  t.deepEqual(shape('TokenClassification'), ['lastHiddenState:Tx32', 'logits:Tx3']);
  t.deepEqual(shape('QuestionAnswering'), ['lastHiddenState:Tx32', 'startLogits:Tx1!', 'endLogits:Tx1!']);
  t.deepEqual(shape('MultipleChoice'), ['lastHiddenState:Tx32', 'poolerOutput:Bx32', 'logits:Bx1!']);
  t.deepEqual(headOutputs('PreTraining', sizes).map((o) => o.native), ['prediction_logits', 'seq_relationship_logits']);
  t.deepEqual(headOutputs('base', sizes), []);
});

test('what the batcher and the pipelines read: per-token floats, the MLM / NSP fields, choices', (t) => {
  t.is(floatsPerToken('base', sizes), 32);
  t.is(floatsPerToken('MaskedLM', sizes), 132);
  t.is(floatsPerToken('PreTraining', sizes), 132);
  t.is(floatsPerToken('TokenClassification', sizes), 35);
  t.is(floatsPerToken('QuestionAnswering', sizes), 34);
  t.is(floatsPerToken('SequenceClassification', sizes), 32);
  t.is(outputField('MaskedLM', 'mlm'), 'logits');
  t.is(outputField('PreTraining', 'mlm'), 'predictionLogits');
  t.is(outputField('PreTraining', 'nsp'), 'seqRelationshipLogits');
  t.is(outputField('NextSentencePrediction', 'nsp'), 'logits');
  t.is(outputField('SequenceClassification', 'mlm'), undefined);
  t.deepEqual(HEADS.filter(takesChoices), ['MultipleChoice']);
});

test("each family's class of a head: named by kind, its outputs read through the family's row", (t) => {
  const shape = (head: (typeof HEADS)[number], model_type: string) =>
    outputSpecs(head, { ...sizes, model_type }, false).map((o) => `${o.field}:${o.perToken ? 'T' : 'B'}x${o.width}${o.squeeze ? '!' : ''}`);
  t.is(headOf('DistilBertForMaskedLM'), 'MaskedLM');
  t.is(headOf('XLMRobertaForTokenClassification'), 'TokenClassification');
  t.is(headOf('AlbertForPreTraining'), 'PreTraining');
  t.is(headOf('ElectraForPreTraining'), 'PreTraining');
  t.is(withHead('XLMRobertaForTokenClassification', 'MaskedLM'), 'XLMRobertaForMaskedLM');
  // BERT's, and a model_type-less size object reads as BERT.
  t.deepEqual(shape('PreTraining', 'bert'), ['lastHiddenState:Tx32', 'poolerOutput:Bx32', 'predictionLogits:Tx100', 'seqRelationshipLogits:Bx2']);
  // ElectraForPreTraining is the discriminator: one logit per token, [B, L], no pooler.
  t.deepEqual(shape('PreTraining', 'electra'), ['lastHiddenState:Tx32', 'logits:Tx1!']);
  // ALBERT's second task is sentence order (transformers' sop_logits).
  t.deepEqual(shape('PreTraining', 'albert'), ['lastHiddenState:Tx32', 'poolerOutput:Bx32', 'predictionLogits:Tx100', 'sopLogits:Bx2']);
  // Sequence heads with their own dense layer on the first token run no pooler.
  t.deepEqual(shape('SequenceClassification', 'roberta'), ['lastHiddenState:Tx32', 'logits:Bx3']);
  t.deepEqual(shape('SequenceClassification', 'xlm-roberta'), ['lastHiddenState:Tx32', 'logits:Bx3']);
  t.deepEqual(shape('SequenceClassification', 'electra'), ['lastHiddenState:Tx32', 'logits:Bx3']);
  t.deepEqual(shape('SequenceClassification', 'albert'), ['lastHiddenState:Tx32', 'poolerOutput:Bx32', 'logits:Bx3']);
  t.deepEqual(shape('MultipleChoice', 'roberta'), ['lastHiddenState:Tx32', 'poolerOutput:Bx32', 'logits:Bx1!']);
  t.deepEqual(shape('MultipleChoice', 'distilbert'), ['lastHiddenState:Tx32', 'logits:Bx1!']);
  t.is(outputField('PreTraining', 'mlm', 'electra'), undefined);
  t.is(outputField('PreTraining', 'replaced', 'electra'), 'logits');
  t.is(outputField('PreTraining', 'replaced'), undefined);
  t.is(outputField('PreTraining', 'nsp', 'albert'), 'sopLogits');
  t.is(floatsPerToken('PreTraining', { ...sizes, model_type: 'electra' }), 33);
  t.deepEqual(headOutputs('PreTraining', { ...sizes, model_type: 'electra' }).map((o) => o.native), ['logits']);
});
