"""Training-step speed of mcdlib's models, side by side in one run (issue 10).

    .venv/bin/python benchmarks/bench_models.py --official-shapes    # the issue's table
    .venv/bin/python benchmarks/bench_models.py                      # classroom + full presets, music-scenes shapes

One step = forward + loss + backward + Adam step, on one fixed random batch (64 questions,
64 different videos), ``--threads`` torch threads (default 2). The models are timed in turns,
``--rounds`` times ``--steps`` steps each, and the median step time per model is reported, so a
load change on a shared machine hits every model alike; the load average is printed before and
after. Ratios are the point: "x vs published" is the published AVST's step time over the model's.

``--official-shapes``: MUSIC-AVQA's features (VGGish [T, 128], ResNet-18 [T, 512], the 14x14x512
grid, T = 10), MiniLM question tokens padded to 21 (the official test questions' maximum; their
lengths here are uniform in 3..21, mean 12, as the official ones), the ``full`` preset. The first
rows time :class:`PublishedAVST`, this file's own re-statement of the published AVST network
(GeWu-Lab/MUSIC-AVQA, ``net_grd_avst/net_avst.py``, written from reading it: same layers, sizes,
layouts and order of operations), once with the published training step's matching-row
interleaving loop (``batch_organize``) and once with that interleaving vectorised. It exists
for this comparison only; users train mcdlib's ``avst`` (:mod:`mcdlib.models.avst`).

GFLOP/step is counted by ``torch.utils.flop_counter`` (matrix products only); "floor" is that
count at the rate of a large float32 matrix product measured in the same run: no implementation
of the same maths can step faster on this machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from mcdlib.config import get_preset
from mcdlib.data.spec import DataSpec, random_batch
from mcdlib.models import build_model

try:  # the training loop's Adam (absent from trees before issue 10: compare_trees --script-from after)
    from mcdlib.train.loop import make_optimizer
except ImportError:
    def make_optimizer(params, lr):
        return torch.optim.Adam(params, lr=lr)

#: MUSIC-AVQA at the published feature shapes (vocabulary and answers of the official train split)
OFFICIAL_SPEC = dict(audio_dim=128, visual_dim=512, text_dim=384, segments=10, visual_grid=(196, 512), text_len=21,
                     vocab_size=93, question_len=14, num_answers=42)
#: the built-in music scenes (logmel, EfficientNet-Lite0 frames and 3-column grid)
SCENES_SPEC = dict(audio_dim=128, visual_dim=1280, text_dim=384, segments=10, visual_grid=(3, 1280), text_len=21)
BATCH = 64


# --------------------------------------------------------------------------- the published AVST, restated


class PublishedAVST(nn.Module):
    """The published AVST network (Li et al. 2022), restated for timing (see the module doc).

    ``forward(audio [B,T,128], grid_pos [B,T,512,14,14], grid_neg [B,T,512,14,14], q_ids [B,14])
    -> (answer logits [B,42], positive matching logits [B*T,2], negative matching logits [B*T,2])``.
    The layers the published class builds but never calls (a ResNet-18, fc_v, fc_st, ...) are left
    out: they get no gradient and Adam skips them.
    """

    def __init__(self, vocab: int = 93, answers: int = 42, d: int = 512, audio_dim: int = 128, heads: int = 4,
                 dropout: float = 0.1):
        super().__init__()
        self.d = d
        self.words = nn.Embedding(vocab, d)
        self.lstm = nn.LSTM(d, d, 1)  # sequence-first, as published
        self.question_out = nn.Linear(2 * d, d)
        self.audio_in, self.audio_out = nn.Linear(audio_dim, d), nn.Linear(d, d)
        self.global_local = nn.Linear(2 * d, d)
        self.match1, self.match2 = nn.Linear(2 * d, d), nn.Linear(d, d // 2)
        self.match3, self.match4 = nn.Linear(d // 2, d // 4), nn.Linear(d // 4, 2)
        self.attn_visual = nn.MultiheadAttention(d, heads, dropout=dropout)
        self.attn_audio = nn.MultiheadAttention(d, heads, dropout=dropout)
        self.ffn_visual = nn.ModuleList([nn.Linear(d, d), nn.Dropout(dropout), nn.Linear(d, d), nn.Dropout(dropout)])
        self.ffn_audio = nn.ModuleList([nn.Linear(d, d), nn.Dropout(dropout), nn.Linear(d, d), nn.Dropout(dropout)])
        self.norm_visual, self.norm_audio = nn.LayerNorm(d), nn.LayerNorm(d)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fusion = nn.Linear(2 * d, d)
        self.answer = nn.Linear(d, answers)

    def question(self, q_ids: torch.Tensor) -> torch.Tensor:
        words = torch.tanh(self.words(q_ids)).transpose(0, 1)
        _, (h, c) = self.lstm(words)
        state = torch.cat((h, c), 2).transpose(0, 1).reshape(q_ids.shape[0], -1)
        return self.question_out(torch.tanh(state))

    def ground_and_match(self, audio_flat: torch.Tensor, audio_unit: torch.Tensor, grid: torch.Tensor):
        B, T, C, H, W = grid.shape
        maps = grid.view(B * T, C, H, W)
        frame = self.pool(maps).squeeze()
        cells = F.normalize(maps.view(B * T, C, H * W).permute(0, 2, 1), dim=2)
        attn = F.softmax(torch.matmul(cells, audio_unit).squeeze(), dim=-1).unsqueeze(-2)
        grounded = torch.matmul(attn, cells).squeeze()
        visual = self.global_local(torch.tanh(torch.cat((frame, grounded), dim=-1)))
        x = F.relu(self.match1(torch.cat((audio_flat, visual), dim=-1)))
        x = F.relu(self.match3(F.relu(self.match2(x))))
        return visual, self.match4(x)

    def temporal(self, attn, ffn, norm, query, feats):
        attended = attn(query, feats, feats)[0].squeeze(0)
        src = ffn[2](ffn[1](F.relu(ffn[0](attended))))
        return norm(attended + ffn[3](src))

    def forward(self, audio, grid_pos, grid_neg, q_ids):
        question = self.question(q_ids)
        audio = self.audio_out(F.relu(self.audio_in(audio)))
        B, T, d = audio.shape
        audio_flat = audio.view(B * T, d)
        audio_unit = F.normalize(audio_flat.unsqueeze(-1), dim=1)
        visual, match_pos = self.ground_and_match(audio_flat, audio_unit, grid_pos)
        _, match_neg = self.ground_and_match(audio_flat, audio_unit, grid_neg)
        visual = visual.view(B, -1, d)
        query = question.unsqueeze(0)
        visual_att = self.temporal(self.attn_visual, self.ffn_visual, self.norm_visual, query, visual.permute(1, 0, 2))
        audio_att = self.temporal(self.attn_audio, self.ffn_audio, self.norm_audio, query, audio.permute(1, 0, 2))
        feat = torch.cat((audio_att + audio.mean(dim=-2), visual_att + visual.mean(dim=-2)), dim=-1)
        combined = torch.tanh(self.fusion(torch.tanh(feat)) * question)
        return self.answer(combined), match_pos, match_neg


def interleave_loop(pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The published training step's ``batch_organize``: rows copied one by one, labels 1, 0, 1, 0..."""
    rows = torch.zeros(pos.shape[0] * 2, pos.shape[1])
    labels = torch.zeros(pos.shape[0] * 2)
    for i in range(pos.shape[0]):
        rows[i * 2, :] = pos[i, :]
        rows[i * 2 + 1, :] = neg[i, :]
        labels[i * 2] = 1
    return rows, labels.long()


def interleave_vectorised(pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same rows and labels in one operation."""
    labels = torch.stack([torch.ones(len(pos)), torch.zeros(len(pos))], 1).flatten().long()
    return torch.stack([pos, neg], 1).flatten(0, 1), labels


# --------------------------------------------------------------------------- what is timed


@dataclasses.dataclass
class Entry:
    name: str
    model: nn.Module
    step: callable
    times: list = dataclasses.field(default_factory=list)
    gflop: float | None = None


def mcdlib_entry(label: str, model_name: str, preset: str, spec: DataSpec, batch: dict) -> Entry:
    cfg = dataclasses.replace(get_preset(preset).model, name=model_name)
    torch.manual_seed(0)
    model = build_model(cfg, spec).train()
    optimizer = make_optimizer(model.parameters(), lr=1e-4)  # the training loop's Adam

    def step():
        out = model(batch)
        loss = F.cross_entropy(out["logits"], batch["answer"]) + sum(out["losses"].values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return Entry(label, model, step)


def published_entry(label: str, batch: dict, loop: bool) -> Entry:
    torch.manual_seed(0)
    model = PublishedAVST().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)  # torch's default Adam, as published
    B, T, G, C = batch["visual_grid"].shape
    side = int(G ** 0.5)
    grid_pos = batch["visual_grid"].transpose(2, 3).reshape(B, T, C, side, side).contiguous()
    grid_neg = grid_pos.roll(1, dims=0)  # the loader's negatives: frames of other videos
    organize = interleave_loop if loop else interleave_vectorised

    def step():
        answers, pos, neg = model(batch["audio"], grid_pos, grid_neg, batch["q_ids"])
        rows, labels = organize(pos, neg)
        loss = F.cross_entropy(answers, batch["answer"]) + 0.5 * F.cross_entropy(rows, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return Entry(label, model, step)


def count_gflop(entry: Entry) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        entry.step()
    return counter.get_total_flops() / 1e9


def gemm_gflops(size: int = 1024, repeats: int = 8) -> float:
    """The machine's float32 matrix-product rate (GFLOP/s) at the current thread count."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size ** 3 * repeats / (time.perf_counter() - start) / 1e9


def load() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "n/a"


def run(entries: list[Entry], rounds: int, steps: int, flops: bool) -> float:
    for entry in entries:  # warm-up (allocator, first-call costs)
        entry.step()
        if flops:
            entry.gflop = count_gflop(entry)
    rates = [gemm_gflops()]
    for r in range(rounds):
        for entry in entries:
            start = time.perf_counter()
            for _ in range(steps):
                entry.step()
            entry.times.append((time.perf_counter() - start) / steps)
        rates.append(gemm_gflops())
        print(f"  round {r + 1}/{rounds} done (load {load()})", file=sys.stderr)
    return statistics.median(rates)


def table(entries: list[Entry], reference: Entry | None, rate: float) -> str:
    ref = statistics.median(reference.times) if reference else None
    lines = ["| network | step (median) | samples/s | x vs published AVST | parameters | GFLOP/step | floor |",
             "|---|---|---|---|---|---|---|"]
    for e in entries:
        t = statistics.median(e.times)
        ratio = f"{ref / t:.2f}x" if ref else "-"
        gflop = f"{e.gflop:.1f}" if e.gflop is not None else "-"
        floor = f"{e.gflop / rate * 1000:.0f} ms" if e.gflop is not None else "-"
        params = sum(p.numel() for p in e.model.parameters())
        lines.append(f"| {e.name} | {t * 1000:,.0f} ms | {BATCH / t:,.0f} | {ratio} | {params / 1e6:.1f} M | "
                     f"{gflop} | {floor} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official-shapes", action="store_true",
                        help="MUSIC-AVQA feature shapes and the full preset, against the published AVST")
    parser.add_argument("--models", default="avst,mcd,late,qonly", help="mcdlib models to time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="turns over every model")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per model and turn")
    parser.add_argument("--no-published", action="store_true", help="skip the published AVST rows")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP count")
    parser.add_argument("--json", default=None, help="also write each row's median step (ms) here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = [m for m in args.models.split(",") if m]
    before = load()
    reference = None
    if args.official_shapes:
        spec = DataSpec(**OFFICIAL_SPEC, type_object_features=torch.randn(9, 2, 384))
        batch = random_batch(spec, BATCH, seed=0)
        entries = []
        if not args.no_published:
            reference = published_entry("AVST as published (its batch_organize loop)", batch, loop=True)
            entries += [reference, published_entry("AVST as published, matching rows interleaved at once", batch,
                                                   loop=False)]
        entries += [mcdlib_entry(f"mcdlib `{m}`, full preset", m, "full", spec, batch) for m in models]
        title = "official MUSIC-AVQA shapes, batch 64, full preset"
    else:
        spec = DataSpec(**SCENES_SPEC, type_object_features=torch.randn(9, 2, 384))
        batch = random_batch(spec, BATCH, seed=0, videos_per_batch=16)
        entries = [mcdlib_entry(f"mcdlib `{m}`, {p} preset", m, p, spec, batch)
                   for p in ("classroom", "full") for m in models]
        title = "music-scenes shapes (logmel 128, EfficientNet 1280, 3-cell grid), batch 64"
    rate = run(entries, args.rounds, args.steps, not args.no_flops)
    after = load()
    print(f"## Training step, {title}\n")
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs; load average "
          f"{before} before, {after} after; {args.rounds} rounds x {args.steps} steps; "
          f"float32 matrix product {rate:.0f} GFLOP/s\n")
    print(table(entries, reference, rate))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({f"step_ms {e.name}": statistics.median(e.times) * 1000 for e in entries}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
