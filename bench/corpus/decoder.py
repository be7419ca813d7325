"""Train a small GPT-like character-level decoder on a real text and export it to ONNX in transformers.js's
text-generation layout (inputs input_ids, attention_mask, position_ids, past_key_values.N.key/value; outputs logits,
present.N.key/value). The tests use it to measure held-out perplexity and greedy continuations of every quantized
variant against float32.

Run (Debian: apt-get install python3-torch python3-onnx; Debian's python3, not a pyenv one):
    nice -n 10 /usr/bin/python3 bench/corpus/decoder.py [--text /usr/share/common-licenses/GPL-3] [--out test/fixtures/char-decoder]
Debian's torch calls the system libblas.so.3; when that is the reference BLAS (~1.7 GFLOP/s) training is ~12x slower
than with OpenBLAS. Without changing the system's alternatives: `apt-get download libopenblas0-pthread && dpkg -x
libopenblas0-pthread_*.deb blas` then run with LD_LIBRARY_PATH=blas/usr/lib/x86_64-linux-gnu/openblas-pthread.

Writes <out>/model.onnx, <out>/meta.json (vocabulary, sizes, the split, torch's own held-out perplexity) and
<out>/heldout.txt (the last 10 % of the text, never trained on). Training stops at --steps or after --seconds of wall
time, whichever comes first, so the script stays cheap on a shared machine; the step count reached therefore depends
on the machine's load (meta.json records it; pass --seconds 1e9 --steps N to reproduce a given model exactly).
"""
import argparse, hashlib, json, math, os, time

import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--text", default="/usr/share/common-licenses/GPL-3")
p.add_argument("--out", default="test/fixtures/char-decoder")
p.add_argument("--dim", type=int, default=128)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--layers", type=int, default=4)
p.add_argument("--context", type=int, default=64)
p.add_argument("--max-positions", type=int, default=256)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--steps", type=int, default=1200)
p.add_argument("--seconds", type=float, default=480)
p.add_argument("--lr", type=float, default=4e-3)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--dropout", type=float, default=0.0)
p.add_argument("--extra-text", nargs="*", default=[], help="more training texts (whole files)")
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()

torch.manual_seed(a.seed)
torch.set_num_threads(a.threads)
raw = open(a.text, "rb").read()
text = raw.decode("utf-8")
# More training text (whole files, e.g. the other licences) makes a less overfit, more confident model; the held-out
# part is still only the last 10 % of --text, never trained on.
extra = [open(f, "rb").read().decode("utf-8") for f in a.extra_text]
vocab = sorted(set(text).union(*map(set, extra)))
stoi = {c: i for i, c in enumerate(vocab)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
split = int(len(data) * 0.9)
train, held = data[:split], data[split:]
if extra:
    train = torch.cat([train, torch.tensor([stoi[c] for c in "\n\n".join([""] + extra)], dtype=torch.long)])


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h, self.dh = h, d // h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.drop = nn.Dropout(a.dropout)  # training only: the export runs in eval mode

    def forward(self, x, bias, past_k, past_v):
        B, S, D = x.shape
        h = self.ln1(x)
        split = lambda t: t.view(B, S, self.h, self.dh).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        k = torch.cat([past_k, k], dim=2)
        v = torch.cat([past_v, v], dim=2)
        att = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(self.dh)) + bias, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, S, D)
        x = x + self.drop(self.o(y))
        x = x + self.drop(self.proj(F.gelu(self.fc(self.ln2(x)))))
        return x, k, v


class Decoder(nn.Module):
    def __init__(self, V, d, h, L, P):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, d), nn.Embedding(P, d)
        self.blocks = nn.ModuleList(Block(d, h) for _ in range(L))
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, V, bias=False)
        self.h, self.dh = h, d // h

    def forward(self, input_ids, attention_mask, position_ids, *past):
        S = input_ids.shape[1]
        T = attention_mask.shape[1]
        # Key j is visible to query i (absolute position T - S + i) when j <= T - S + i and attention_mask[j] == 1.
        rows = torch.arange(S, device=input_ids.device).unsqueeze(1) + (T - S)
        cols = torch.arange(T, device=input_ids.device).unsqueeze(0)
        allowed = (cols <= rows).unsqueeze(0).unsqueeze(0) & (attention_mask.unsqueeze(1).unsqueeze(2) > 0)
        bias = torch.where(allowed, torch.zeros((), dtype=torch.float32), torch.full((), -10000.0))
        x = self.wte(input_ids) + self.wpe(position_ids)
        presents = []
        for i, blk in enumerate(self.blocks):
            x, k, v = blk(x, bias, past[2 * i], past[2 * i + 1])
            presents += [k, v]
        return (self.head(self.ln(x)), *presents)

    def empty_past(self, B):
        return [torch.zeros(B, self.h, 0, self.dh) for _ in range(2 * len(self.blocks))]

    def full(self, ids):
        B, S = ids.shape
        pos = torch.arange(S).unsqueeze(0).expand(B, S)
        return self(ids, torch.ones(B, S, dtype=torch.long), pos, *self.empty_past(B))[0]


def heldout_ppl(model, ctx):
    """Perplexity over non-overlapping windows of `ctx` chars of the held-out text, predicting chars 1..ctx-1 of
    each window from the ones before (the tests compute the same figure in onnxruntime-node)."""
    n = len(held) // ctx
    ids = held[: n * ctx].view(n, ctx)
    with torch.no_grad():
        logits = model.full(ids)
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    return math.exp(nll.item())


model = Decoder(len(vocab), a.dim, a.heads, a.layers, a.max_positions)
model.train()
opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
t0 = time.time()
step = 0
while step < a.steps and time.time() - t0 < a.seconds:
    # Linear decay over whichever budget (steps or seconds) runs out first.
    done = max((time.time() - t0) / a.seconds, step / a.steps)
    lr = a.lr * min(1.0, (step + 1) / 50) * max(0.1, 1 - done)
    for g in opt.param_groups:
        g["lr"] = lr
    ix = torch.randint(0, len(train) - a.context - 1, (a.batch,))
    x = torch.stack([train[i : i + a.context] for i in ix])
    y = torch.stack([train[i + 1 : i + a.context + 1] for i in ix])
    loss = F.cross_entropy(model.full(x).reshape(-1, len(vocab)), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    step += 1
    if step % 50 == 0:
        print(f"step {step} loss {loss.item():.3f} {time.time() - t0:.0f}s", flush=True)
model.eval()
ppl = heldout_ppl(model, a.context)
print(f"trained {step} steps in {time.time() - t0:.0f}s; held-out perplexity {ppl:.4f}")

os.makedirs(a.out, exist_ok=True)
L, H, Dh = a.layers, a.heads, a.dim // a.heads
names_past = [f"past_key_values.{l}.{kv}" for l in range(L) for kv in ("key", "value")]
names_present = [f"present.{l}.{kv}" for l in range(L) for kv in ("key", "value")]
dyn = {"input_ids": {0: "batch_size", 1: "sequence_length"}, "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
       "position_ids": {0: "batch_size", 1: "sequence_length"}, "logits": {0: "batch_size", 1: "sequence_length"}}
for n in names_past:
    dyn[n] = {0: "batch_size", 2: "past_sequence_length"}
for n in names_present:
    dyn[n] = {0: "batch_size", 2: "total_sequence_length"}
# Trace with a non-empty cache so the exporter keeps the past length symbolic (transformers.js passes 0 at step one).
B, S, P = 1, 3, 2
ex = (torch.zeros(B, S, dtype=torch.long), torch.ones(B, P + S, dtype=torch.long), torch.arange(P, P + S).unsqueeze(0),
      *[torch.zeros(B, H, P, Dh) for _ in names_past])
path = os.path.join(a.out, "model.onnx")
torch.onnx.export(model, ex, path, input_names=["input_ids", "attention_mask", "position_ids", *names_past],
                  output_names=["logits", *names_present], dynamic_axes=dyn, opset_version=17, do_constant_folding=True)
held_text = text[split:]
open(os.path.join(a.out, "heldout.txt"), "w", encoding="utf-8").write(held_text)
meta = {
    "source": a.text, "sourceSha256": hashlib.sha256(raw).hexdigest(), "sourceChars": len(text),
    "heldOutStart": split, "heldOutChars": len(held_text), "extraTrainingTexts": a.extra_text, "trainChars": len(train), "vocab": "".join(vocab),
    "dim": a.dim, "heads": H, "layers": L, "context": a.context, "maxPositions": a.max_positions,
    "steps": step, "dropout": a.dropout, "lr": a.lr, "batch": a.batch, "seconds": round(time.time() - t0), "seed": a.seed, "torch": torch.__version__,
    "heldOutPerplexity": ppl, "perplexityWindow": a.context,
}
json.dump(meta, open(os.path.join(a.out, "meta.json"), "w"), indent=1, ensure_ascii=False)
print(f"wrote {path} ({os.path.getsize(path)} bytes)")
