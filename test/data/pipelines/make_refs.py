"""
References for the pipeline options the shared goldens do not cover, from the real libraries:
transformers (zero-shot-classification; text-classification defaults for multi-label, regression
and one-label models) and sentence-transformers (the other
pooling modes, prompts, CrossEncoder.rank).

The models are variants of the shared tiny fixtures, made the same way by the tests
(test/pipeline-variants.ts):
  nli          tiny-bert-seqcls, id2label {0: contradiction, 1: neutral, 2: entailment}
  nli-e0       tiny-bert-seqcls, id2label {0: entailment, 1: neutral, 2: contradiction}
  multilabel   tiny-bert-seqcls, problem_type multi_label_classification
  regression   tiny-bert-seqcls, problem_type regression
  one-label    tiny-bert-seqcls with classifier row 2 only (num_labels 1): a cross-encoder
  st-<name>    sentence-transformers folders on tiny-bert-model's weights (see ST_FOLDERS)

Run: /tmp/hfref/bin/python test/data/pipelines/make_refs.py [SHARED_DIR]
(transformers 5.x, sentence-transformers 6.x), then make_refs_stride.py under transformers 4.57.6 +
tokenizers 0.22.2. Writes test/data/pipelines/references.json. Everything runs in float64.
"""
import json
import os
import shutil
import sys
import tempfile

import torch
import transformers
import sentence_transformers
from safetensors.torch import load_file, save_file
from sentence_transformers import CrossEncoder, SentenceTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
# The folder holding fixtures/: the repository's test/ (its copy), or an upstream shared/ folder.
SHARED = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '..', '..'))
FIX = os.path.join(SHARED, 'fixtures')
TMP = tempfile.mkdtemp()

ST_FOLDERS = {
    # name: (1_Pooling/config.json, normalize, config_sentence_transformers.json or None, max_seq_length)
    'sqrt': ({'word_embedding_dimension': 64, 'pooling_mode_mean_sqrt_len_tokens': True}, False, None, 64),
    'weighted': ({'word_embedding_dimension': 64, 'pooling_mode_weightedmean_tokens': True}, False, None, 64),
    'last': ({'word_embedding_dimension': 64, 'pooling_mode_lasttoken': True}, False, None, 64),
    'max': ({'word_embedding_dimension': 64, 'pooling_mode_max_tokens': True}, True, None, 64),
    'cls-mean': ({'word_embedding_dimension': 64, 'pooling_mode_cls_token': True, 'pooling_mode_mean_tokens': True}, False, None, 64),
    'prompt': (
        {'embedding_dimension': 64, 'pooling_mode': 'mean', 'include_prompt': False},
        True,
        {'prompts': {'query': 'query: ', 'doc': 'passage of text: '}, 'default_prompt_name': 'query'},
        16,
    ),
}


def copy_fixture(name, dst):
    shutil.copytree(os.path.join(FIX, name), dst)
    for f in ('golden.json', 'golden.safetensors'):
        p = os.path.join(dst, f)
        if os.path.exists(p):
            os.remove(p)


def edit_config(d, **changes):
    p = os.path.join(d, 'config.json')
    c = json.load(open(p))
    for k, v in changes.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    json.dump(c, open(p, 'w'), indent=2)


def make_models():
    m = {}
    labels3 = lambda names: {'id2label': {str(i): n for i, n in enumerate(names)}, 'label2id': {n: i for i, n in enumerate(names)}}
    m['nli'] = os.path.join(TMP, 'nli')
    copy_fixture('tiny-bert-seqcls', m['nli'])
    edit_config(m['nli'], **labels3(['contradiction', 'neutral', 'entailment']))
    m['nli-e0'] = os.path.join(TMP, 'nli-e0')
    copy_fixture('tiny-bert-seqcls', m['nli-e0'])
    edit_config(m['nli-e0'], **labels3(['ENTAILMENT', 'neutral', 'contradiction']))
    m['multilabel'] = os.path.join(TMP, 'multilabel')
    copy_fixture('tiny-bert-seqcls', m['multilabel'])
    edit_config(m['multilabel'], problem_type='multi_label_classification')
    m['regression'] = os.path.join(TMP, 'regression')
    copy_fixture('tiny-bert-seqcls', m['regression'])
    edit_config(m['regression'], problem_type='regression')
    m['one-label'] = os.path.join(TMP, 'one-label')
    copy_fixture('tiny-bert-seqcls', m['one-label'])
    edit_config(m['one-label'], id2label={'0': 'LABEL_0'}, label2id={'LABEL_0': 0}, problem_type=None)
    st = load_file(os.path.join(m['one-label'], 'model.safetensors'))
    st['classifier.weight'] = st['classifier.weight'][2:3].clone()
    st['classifier.bias'] = st['classifier.bias'][2:3].clone()
    save_file(st, os.path.join(m['one-label'], 'model.safetensors'), metadata={'format': 'pt'})
    for name, (pool, norm, stcfg, msl) in ST_FOLDERS.items():
        d = os.path.join(TMP, 'st-' + name)
        copy_fixture('tiny-bert-model', d)
        modules = [{'idx': 0, 'name': '0', 'path': '', 'type': 'sentence_transformers.models.Transformer'},
                   {'idx': 1, 'name': '1', 'path': '1_Pooling', 'type': 'sentence_transformers.models.Pooling'}]
        if norm:
            modules.append({'idx': 2, 'name': '2', 'path': '2_Normalize', 'type': 'sentence_transformers.models.Normalize'})
            os.makedirs(os.path.join(d, '2_Normalize'))
        json.dump(modules, open(os.path.join(d, 'modules.json'), 'w'))
        os.makedirs(os.path.join(d, '1_Pooling'))
        json.dump(pool, open(os.path.join(d, '1_Pooling', 'config.json'), 'w'))
        json.dump({'max_seq_length': msl, 'do_lower_case': False}, open(os.path.join(d, 'sentence_bert_config.json'), 'w'))
        if stcfg:
            json.dump(stcfg, open(os.path.join(d, 'config_sentence_transformers.json'), 'w'))
        m['st-' + name] = d
    return m


TEXTS = [
    'life for way we must people node often',
    'she',
    'Hello, WORLD! Qbtutkigz',
    'ro this his human know large di hea point will ki cou long fact until our table left rather may',
    '',
]
LABELS = ['sports', 'politics', 'science fiction', 'music']


def main():
    path = os.path.join(HERE, 'references.json')
    previous = json.load(open(path)) if os.path.exists(path) else {}
    models = make_models()
    out = {
        'versions': {'transformers': transformers.__version__, 'sentence_transformers': sentence_transformers.__version__, 'torch': torch.__version__},
        'texts': TEXTS,
        'labels': LABELS,
    }

    # zero-shot-classification
    zs = []
    for name in ('nli', 'nli-e0'):
        pipe = transformers.pipeline('zero-shot-classification', model=models[name], dtype=torch.float64)
        calls = [
            (TEXTS[0], {'candidate_labels': LABELS}),
            (TEXTS[3], {'candidate_labels': LABELS, 'multi_label': True}),
            (TEXTS[2], {'candidate_labels': 'sports, politics,music', 'hypothesis_template': 'The topic is {}!'}),
            (TEXTS[1], {'candidate_labels': ['weather']}),
            (TEXTS[:3], {'candidate_labels': LABELS}),
        ]
        for inputs, kw in calls:
            zs.append({'model': name, 'inputs': inputs, 'kwargs': kw, 'output': pipe(inputs, **kw)})
    out['zero_shot'] = zs

    # text-classification defaults by problem type
    tc = []
    for name in ('multilabel', 'regression', 'one-label'):
        pipe = transformers.pipeline('text-classification', model=models[name], dtype=torch.float64)
        for kw in ({}, {'top_k': None}):
            tc.append({'model': name, 'inputs': TEXTS[:3], 'kwargs': kw, 'output': pipe(TEXTS[:3], **kw)})
    out['text_classification'] = tc

    # token-classification with a stride: see make_refs_stride.py (tokenizers 0.22.2).
    out['token_classification_stride'] = previous.get('token_classification_stride')

    # CrossEncoder.rank
    ce = CrossEncoder(models['one-label'], device='cpu', model_kwargs={'dtype': torch.float64})
    query = 'who took the dog'
    docs = TEXTS[:4] + ['the dog took a long walk']
    out['rerank'] = {
        'query': query,
        'documents': docs,
        'rank': ce.rank(query, docs, return_documents=True),
        'rank_top2': ce.rank(query, docs, top_k=2),
        'predict_identity': ce.predict([[query, d] for d in docs], activation_fn=torch.nn.Identity()).tolist(),
    }

    # sentence-transformers poolings and prompts
    st_out = {}
    for name in ST_FOLDERS:
        m = SentenceTransformer(models['st-' + name], device='cpu', model_kwargs={'dtype': torch.float64})
        entry = {'default': m.encode(TEXTS, batch_size=2).tolist()}
        if name == 'prompt':
            entry['doc'] = m.encode(TEXTS, prompt_name='doc').tolist()
            entry['explicit'] = m.encode(TEXTS, prompt='search: ').tolist()
        st_out[name] = entry
    out['sentence_transformers'] = st_out

    with open(path, 'w') as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print('wrote', path)


if __name__ == '__main__':
    main()
