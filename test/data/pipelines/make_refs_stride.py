"""
token-classification with a stride (a text longer than the model, split into overlapping windows
whose entities are merged), added to references.json.

Run under transformers 4.57.6 + tokenizers 0.22.2, e.g.
  pip install --no-deps --target /tmp/hf457lib transformers==4.57.6 tokenizers==0.22.2 requests urllib3 charset-normalizer
  PYTHONPATH=/tmp/hf457lib python test/data/pipelines/make_refs_stride.py [SHARED_DIR]
(tokenizers 0.23.x truncation drops overflow windows, huggingface/tokenizers#2091: with it this
pipeline sees only the first window or two; see test/fixtures/tokenizer/README.md.)
"""
import json
import os
import sys

import tokenizers
import torch
import transformers

assert tokenizers.__version__.startswith('0.22'), tokenizers.__version__

HERE = os.path.dirname(os.path.abspath(__file__))
# The folder holding fixtures/: the repository's test/ (its copy), or an upstream shared/ folder.
SHARED = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '..', '..'))
LONG = ' '.join(['night Today Head Qbtutkigz Vvzjkrmni, dog (red-hot) world!'] * 9)


def main():
    path = os.path.join(HERE, 'references.json')
    out = json.load(open(path))
    ner = transformers.pipeline('token-classification', model=os.path.join(SHARED, 'fixtures', 'tiny-bert-tokcls'), dtype=torch.float64)
    tk = []
    for strategy in ('simple', 'first', 'average', 'max'):
        kw = {'aggregation_strategy': strategy, 'stride': 16}
        tk.append({'inputs': LONG, 'kwargs': kw, 'output': [{k: (float(v) if k == 'score' else v) for k, v in e.items()} for e in ner(LONG, **kw)]})
    out['token_classification_stride'] = tk
    out['versions_stride'] = {'transformers': transformers.__version__, 'tokenizers': tokenizers.__version__}
    with open(path, 'w') as f:
        json.dump(out, f, separators=(',', ':'))
        f.write('\n')
    print('wrote', path)


if __name__ == '__main__':
    main()
