"""Writes the small models in this folder and their goldens with Hugging Face transformers
(float64, eager attention), for what the fixtures (test/fixtures) do not cover: BertForMultipleChoice,
the tanh GELU and ReLU activations, and attention probabilities.

    python3 -m venv /tmp/hfref && /tmp/hfref/bin/pip install torch transformers numpy
    /tmp/hfref/bin/python test/data/models/make.py

Weights are random (seeded), initialised like the shared fixtures (std 0.02*sqrt(768/hidden),
LayerNorm weights U(0.6, 1.4), biases N(0, 0.1)) so that small bugs show.
"""
import json
import math
import os

import torch
from transformers import BertConfig, BertForMultipleChoice, BertModel

HERE = os.path.dirname(os.path.abspath(__file__))


def init(model, seed):
    g = torch.Generator().manual_seed(seed)
    std = 0.02 * math.sqrt(768 / model.config.hidden_size)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(torch.rand(p.shape, generator=g, dtype=torch.float64) * 0.8 + 0.6)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.1)
            else:
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * std)
        emb = model.base_model.embeddings.word_embeddings.weight
        emb[model.config.pad_token_id].zero_()
        # The checkpoint stores float32: compute the goldens from exactly those values.
        for p in model.parameters():
            p.copy_(p.float().double())


def config(act, **kw):
    return BertConfig(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=48, max_position_embeddings=24, type_vocab_size=2,
                      hidden_act=act, initializer_range=0.02 * math.sqrt(768 / 32), **kw)


def tensor(t):
    t = t.detach().to(torch.float64)
    return {"dims": list(t.shape), "data": t.flatten().tolist()}


def save(model, name, cases):
    out = os.path.join(HERE, name)
    model.to(torch.float32).save_pretrained(out, safe_serialization=True)
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump({"generator": "transformers %s, torch %s, float64, eager" % (__import__("transformers").__version__, torch.__version__),
                   "cases": cases}, f)


def encoder_cases(model, seed):
    g = torch.Generator().manual_seed(seed)
    B, L = 3, 11
    ids = torch.randint(104, 128, (B, L), generator=g)
    ids[:, 0] = 101
    mask = torch.ones(B, L, dtype=torch.long)
    mask[1, 7:] = 0
    mask[2, :4] = 0  # left padding
    types = torch.zeros(B, L, dtype=torch.long)
    types[0, 6:] = 1
    with torch.no_grad():
        o = model(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True, output_attentions=True)
    return [{
        "name": "padded_batch",
        "input_ids": ids.tolist(), "attention_mask": mask.tolist(), "token_type_ids": types.tolist(),
        "outputs": {
            "last_hidden_state": tensor(o.last_hidden_state),
            "pooler_output": tensor(o.pooler_output),
            **{"hidden_states.%d" % i: tensor(h) for i, h in enumerate(o.hidden_states)},
            **{"attentions.%d" % i: tensor(a) for i, a in enumerate(o.attentions)},
        },
    }]


def main():
    torch.set_default_dtype(torch.float64)
    for act, seed in (("gelu_new", 11), ("relu", 12), ("gelu", 13)):
        m = BertModel(config(act), add_pooling_layer=True).to(torch.float64).eval()
        m.config._attn_implementation = "eager"
        init(m, seed)
        m.config.architectures = ["BertModel"]
        save(m, "bert-%s" % act.replace("_", "-"), encoder_cases(m, seed))

    m = BertForMultipleChoice(config("gelu")).to(torch.float64).eval()
    m.config._attn_implementation = "eager"
    init(m, 14)
    g = torch.Generator().manual_seed(14)
    B, C, L = 2, 3, 9
    ids = torch.randint(104, 128, (B, C, L), generator=g)
    ids[..., 0] = 101
    mask = torch.ones(B, C, L, dtype=torch.long)
    mask[0, 1, 5:] = 0
    mask[1, 2, 3:] = 0
    types = torch.zeros(B, C, L, dtype=torch.long)
    types[..., 4:] = 1
    with torch.no_grad():
        o = m(input_ids=ids, attention_mask=mask, token_type_ids=types)
    save(m, "bert-multiple-choice", [{
        "name": "choices",
        "input_ids": ids.tolist(), "attention_mask": mask.tolist(), "token_type_ids": types.tolist(),
        "outputs": {"logits": tensor(o.logits)},
    }])


if __name__ == "__main__":
    main()
