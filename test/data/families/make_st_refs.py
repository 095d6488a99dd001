"""sentence-transformers references on XLM-RoBERTa (test/data/families/st_references.json).

* st-xlmr-mean: a SentenceTransformer folder (Transformer + mean Pooling + Normalize, the layout of
  the multilingual embedders) whose transformer is test/fixtures/variants/xlmr-model; only its
  module files are stored in st-xlmr-mean/, the test copies the fixture beside them.
* a CrossEncoder on xlmr-seqcls-f16 with its classifier.out_proj cut to row 0 (num_labels 1, the
  reranker layout), ranked with CrossEncoder.rank.
Run with torch, transformers and sentence-transformers: python make_st_refs.py
"""
import json
import os
import shutil
import tempfile

import sentence_transformers
import torch
import transformers
from safetensors.torch import load_file, save_file
from sentence_transformers import CrossEncoder, SentenceTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, '..', '..', 'fixtures', 'variants')
SKIP = ('golden.json', 'golden.safetensors')


def copy_fixture(name, dst):
    for f in os.listdir(os.path.join(FIXTURES, name)):
        if f not in SKIP:
            shutil.copy(os.path.join(FIXTURES, name, f), os.path.join(dst, f))


TEXTS = ['Who found the map?', 'The students explained the answer on Monday.', 'Zürich and São Paulo', 'a', 'The cat sat on the mat and looked at the broken window for a long time.']
QUERY = 'Who explained the answer?'
DOCS = ['The students explained the answer on Monday.', 'He opened the map.', 'Nobody found three apples.', 'The answer was explained by the teacher yesterday.']

with tempfile.TemporaryDirectory() as tmp:
    st_dir = os.path.join(tmp, 'st')
    shutil.copytree(os.path.join(HERE, 'st-xlmr-mean'), st_dir)
    os.makedirs(os.path.join(st_dir, '2_Normalize'), exist_ok=True)
    copy_fixture('xlmr-model', st_dir)
    st = SentenceTransformer(st_dir, device='cpu')
    st.to(torch.float64)
    emb = st.encode(TEXTS, convert_to_numpy=True, batch_size=2)

    ce_dir = os.path.join(tmp, 'ce')
    os.makedirs(ce_dir)
    copy_fixture('xlmr-seqcls-f16', ce_dir)
    cfg = json.load(open(os.path.join(ce_dir, 'config.json')))
    cfg['id2label'] = {'0': 'LABEL_0'}
    cfg['label2id'] = {'LABEL_0': 0}
    json.dump(cfg, open(os.path.join(ce_dir, 'config.json'), 'w'))
    w = load_file(os.path.join(ce_dir, 'model.safetensors'))
    w['classifier.out_proj.weight'] = w['classifier.out_proj.weight'][:1].contiguous()
    w['classifier.out_proj.bias'] = w['classifier.out_proj.bias'][:1].contiguous()
    save_file(w, os.path.join(ce_dir, 'model.safetensors'), metadata={'format': 'pt'})
    ce = CrossEncoder(ce_dir, device='cpu')
    ce.model.to(torch.float64)
    ranked = ce.rank(QUERY, DOCS, return_documents=False)

json.dump(
    {
        'versions': {'transformers': transformers.__version__, 'sentence_transformers': sentence_transformers.__version__, 'torch': torch.__version__},
        'sentence_embeddings': {'texts': TEXTS, 'embeddings': emb.tolist()},
        'rerank': {'query': QUERY, 'documents': DOCS, 'ranked': [{'corpus_id': int(r['corpus_id']), 'score': float(r['score'])} for r in ranked]},
    },
    open(os.path.join(HERE, 'st_references.json'), 'w'),
    indent=1,
)
print('ok', emb.shape, ranked)
