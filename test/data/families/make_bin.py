"""Legacy `pytorch_model.bin` copies of one variant fixture folder per family (test/data/families/bin/).

Each is `torch.save(state_dict)` of the folder's model.safetensors as stored (F16 stays F16), plus
the `<prefix>.embeddings.position_ids` buffer that checkpoints written by transformers < 4.31 carry,
and the folder's config.json. test/model-families-bin.test.ts loads them and compares with the
folder's goldens. Run: python make_bin.py (torch and safetensors; any version that writes the
zip format).
"""
import json
import os
import shutil

import torch
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, '..', '..', 'fixtures', 'variants')
FOLDERS = {
    'distilbert-qa-f16': 'distilbert',
    'roberta-qa-f16': 'roberta',
    'xlmr-seqcls-f16': 'roberta',
    'albert-qa-f16': 'albert',
    'electra-qa-f16': 'electra',
}

for folder, prefix in FOLDERS.items():
    src = os.path.join(FIXTURES, folder)
    dst = os.path.join(HERE, 'bin', folder)
    os.makedirs(dst, exist_ok=True)
    state = load_file(os.path.join(src, 'model.safetensors'))
    config = json.load(open(os.path.join(src, 'config.json')))
    state[f'{prefix}.embeddings.position_ids'] = torch.arange(config['max_position_embeddings']).unsqueeze(0)
    torch.save(state, os.path.join(dst, 'pytorch_model.bin'))
    shutil.copy(os.path.join(src, 'config.json'), os.path.join(dst, 'config.json'))
    print(folder, len(state), 'tensors')
