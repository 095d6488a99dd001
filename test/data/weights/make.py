"""Writes the small torch.save files the weights tests read. Run once by hand; tests never need Python.

    python3 -m venv /tmp/hf && /tmp/hf/bin/pip install torch
    /tmp/hf/bin/python test/data/weights/make.py

Made with torch 2.13.0 (CPU). Values are simple formulas that test/weights-pickle.test.ts recomputes.
"""
import collections
import os

import torch

here = os.path.dirname(os.path.abspath(__file__))


def state_dict():
    sd = collections.OrderedDict()
    base = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    sd['f32'] = base
    sd['f32_t'] = base.t()  # non-contiguous view of the same storage
    sd['shared'] = base  # the same tensor under a second name
    sd['row1'] = base[1]  # contiguous view at storage offset 3
    sd['strided'] = torch.arange(10, dtype=torch.float32)[::2]  # stride 2
    sd['f16'] = torch.tensor([0.5, -1.0, 2.0, 65504.0], dtype=torch.float16)
    sd['bf16'] = torch.tensor([[1.0, -2.0], [0.25, 3.0]], dtype=torch.bfloat16)
    sd['f64'] = torch.tensor([1.5, -0.1, 1e10], dtype=torch.float64)
    sd['i64'] = torch.arange(4, dtype=torch.int64).reshape(1, 4) - 2
    sd['bool'] = torch.tensor([True, False])
    sd['scalar'] = torch.tensor(7.0)
    sd['empty'] = torch.zeros(0, 3)
    # What Module.state_dict() attaches; the loader must not take it for a tensor.
    sd._metadata = collections.OrderedDict({'': {'version': 1}})
    return sd


sd = state_dict()
torch.save(sd, os.path.join(here, 'legacy.bin'), _use_new_zipfile_serialization=False)
zsd = state_dict()
zsd['param'] = torch.nn.Parameter(torch.tensor([1.0, 2.0]))  # pickled through _rebuild_parameter
torch.save(zsd, os.path.join(here, 'zip.bin'))
