"""A tiny DistilBERT with sinusoidal_pos_embds: true (test/data/families/distilbert-sinusoidal/).

transformers stores the fixed sinusoidal table as embeddings.position_embeddings.weight, so the
folder carries it like any other position table. golden.json: last_hidden_state in float64 for a
right- and a left-padded row. Run with torch and transformers: python make_sinusoidal.py
"""
import json
import os

import torch
from transformers import DistilBertConfig, DistilBertModel

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'distilbert-sinusoidal')
torch.manual_seed(1234)
config = DistilBertConfig(vocab_size=50, dim=16, n_layers=2, n_heads=2, hidden_dim=32, max_position_embeddings=24, sinusoidal_pos_embds=True)
model = DistilBertModel(config).eval()
model.save_pretrained(OUT)
model = DistilBertModel.from_pretrained(OUT, dtype=torch.float64).eval()
ids = [[1, 7, 9, 11, 13, 2, 0, 0], [0, 0, 1, 21, 22, 23, 24, 2]]
mask = [[1, 1, 1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1, 1, 1]]
with torch.no_grad():
    out = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).last_hidden_state
json.dump({'input_ids': ids, 'attention_mask': mask, 'last_hidden_state': out.tolist()}, open(os.path.join(OUT, 'golden.json'), 'w'))
print('ok')
