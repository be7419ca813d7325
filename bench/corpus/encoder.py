"""Export a BERT-like encoder to ONNX with torch, in transformers.js's feature-extraction layout (inputs input_ids,
attention_mask, token_type_ids; output last_hidden_state): word/position/token-type Gather embeddings, LayerNorm,
post-LN blocks with multi-head attention (Softmax over a padding-mask bias) and an erf GELU MLP.

The weights are torch's seeded default initialisation, NOT trained: the model is for structure (what torch's exporter
writes, as opposed to the encoder built in code in test/helpers/encoder.ts) and speed only, never for accuracy.

    /usr/bin/python3 bench/corpus/encoder.py [--out bench/out/encoder] [--dim 256 --layers 4 --heads 4 --vocab 8000]
"""
import argparse, json, math, os

import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--out", default="bench/out/encoder")
p.add_argument("--dim", type=int, default=256)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--layers", type=int, default=4)
p.add_argument("--vocab", type=int, default=8000)
p.add_argument("--seq", type=int, default=128)
p.add_argument("--max-positions", type=int, default=512)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
torch.manual_seed(a.seed)


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h, self.dh = h, d // h
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-12), nn.LayerNorm(d, eps=1e-12)
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, bias):
        B, S, D = x.shape
        split = lambda t: t.view(B, S, self.h, self.dh).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.dh) + bias, dim=-1)
        x = self.ln1(x + self.o((att @ v).transpose(1, 2).reshape(B, S, D)))
        return self.ln2(x + self.proj(F.gelu(self.fc(x))))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        d = a.dim
        self.word, self.pos, self.ttype = nn.Embedding(a.vocab, d), nn.Embedding(a.max_positions, d), nn.Embedding(2, d)
        self.ln = nn.LayerNorm(d, eps=1e-12)
        self.blocks = nn.ModuleList(Block(d, a.heads) for _ in range(a.layers))

    def forward(self, input_ids, attention_mask, token_type_ids):
        S = input_ids.shape[1]
        pos = torch.arange(S, device=input_ids.device).unsqueeze(0)
        x = self.ln(self.word(input_ids) + self.pos(pos) + self.ttype(token_type_ids))
        bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        for blk in self.blocks:
            x = blk(x, bias)
        return x


model = Encoder().eval()
os.makedirs(a.out, exist_ok=True)
path = os.path.join(a.out, "model.onnx")
ids = torch.randint(0, a.vocab, (1, a.seq))
ex = (ids, torch.ones(1, a.seq, dtype=torch.long), torch.zeros(1, a.seq, dtype=torch.long))
axes = {0: "batch_size", 1: "sequence_length"}
torch.onnx.export(model, ex, path, input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
                  dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
                  opset_version=17, do_constant_folding=True)
params = sum(t.numel() for t in model.parameters())
json.dump({"dim": a.dim, "heads": a.heads, "layers": a.layers, "vocab": a.vocab, "seq": a.seq, "parameters": params,
           "weights": "random (torch default init, seed %d), not trained" % a.seed, "torch": torch.__version__},
          open(os.path.join(a.out, "meta.json"), "w"), indent=1)
print(f"wrote {path} ({os.path.getsize(path)} bytes, {params} parameters)")
