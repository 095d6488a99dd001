"""Training references for the families the trainer implements (test/data/families/train/).

For each case: a variant fixture folder loaded with transformers in float64, train mode with every
dropout probability 0, one forward and backward on the folder's `padded_batch` golden inputs with
fixed labels. Stored (safetensors): input/* (I64), loss (F64), output/* and grad/<name> (F32,
transformers' parameter names: tied parameters once). Run with torch and transformers:
python make_train_refs.py
"""
import json
import os

import torch
import transformers
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, '..', '..', 'fixtures', 'variants')
DROPOUT_KEYS = ['hidden_dropout_prob', 'attention_probs_dropout_prob', 'classifier_dropout', 'dropout', 'attention_dropout',
                'seq_classif_dropout', 'qa_dropout', 'classifier_dropout_prob']
CASES = ['roberta-seqcls', 'distilbert-seqcls', 'roberta-mlm', 'distilbert-qa-f16', 'xlmr-tokcls-f16',
         'albert-seqcls', 'albert-pretraining', 'electra-seqcls-f16', 'electra-generator', 'electra-tokcls',
         'electra-discriminator']
CASES = [c for c in CASES if not os.path.exists(os.path.join(HERE, 'train', f'{c}.safetensors'))]

torch.manual_seed(0)
for folder in CASES:
    src = os.path.join(FIXTURES, folder)
    golden = json.load(open(os.path.join(src, 'golden.json')))
    case = next(c for c in golden['cases'] if c['name'] == 'padded_batch')
    ids = torch.tensor(case['input_ids'])
    mask = torch.tensor(case['attention_mask'])
    config = transformers.AutoConfig.from_pretrained(src)
    for k in DROPOUT_KEYS:
        if hasattr(config, k):
            setattr(config, k, 0.0)
    cls = getattr(transformers, golden['architecture'])
    model = cls.from_pretrained(src, config=config, dtype=torch.float64, attn_implementation='eager')
    model.train()
    B, L = ids.shape
    g = torch.Generator().manual_seed(7)
    inputs = {'input_ids': ids, 'attention_mask': mask}
    if 'seqcls' in folder:
        inputs['labels'] = torch.randint(0, config.num_labels, (B,), generator=g)
    elif 'tokcls' in folder:
        labels = torch.randint(0, config.num_labels, (B, L), generator=g)
        inputs['labels'] = labels.masked_fill(mask == 0, -100)
    elif folder.endswith('mlm') or folder.endswith('generator') or folder.endswith('pretraining'):
        labels = torch.randint(5, config.vocab_size, (B, L), generator=g)
        keep = (torch.rand((B, L), generator=g) < 0.5) & (mask == 1)
        inputs['labels'] = labels.masked_fill(~keep, -100)
        if folder.endswith('pretraining'):
            inputs['sentence_order_label'] = torch.randint(0, 2, (B,), generator=g)
    elif folder.endswith('discriminator'):
        inputs['labels'] = torch.randint(0, 2, (B, L), generator=g)  # 1 = replaced; the loss reads mask == 1 only
    elif 'qa' in folder:
        inputs['start_positions'] = torch.randint(0, L, (B,), generator=g)
        inputs['end_positions'] = torch.randint(0, L, (B,), generator=g)
    out = model(**inputs)
    out.loss.backward()
    tensors = {f'input/{k}': v.contiguous() for k, v in inputs.items()}
    tensors['loss'] = out.loss.detach().reshape(1)
    for k in ('logits', 'start_logits', 'end_logits'):
        if getattr(out, k, None) is not None:
            tensors[f'output/{k}'] = getattr(out, k).detach().float().contiguous()
    for name, p in model.named_parameters():
        tensors[f'grad/{name}'] = p.grad.detach().float().contiguous()
    save_file(tensors, os.path.join(HERE, 'train', f'{folder}.safetensors'),
              metadata={'transformers': transformers.__version__, 'torch': torch.__version__})
    print(folder, float(out.loss), len([k for k in tensors if k.startswith('grad/')]), 'gradients')
