"""Benchmark music-scenes audio: rendering per renderer and log-mel encoding (targets below).

    .venv/bin/python benchmarks/bench_audio.py --scenes 200

Draws ``--scenes`` classroom-profile scenes (:func:`mcdlib.scenes.sampling.sample_scenes`:
1-4 players, entries, stops, voiceovers; 10 s) and measures, after a warm-up render of the
same scenes (wavetable and noise caches filled):

* rendering time per scene for each available renderer (target <= 30 ms per scene on
  average, one thread; classroom has 1,500 scenes),
* the worst case: 10 s of a 4-instrument scene, all players always playing,
* ``logmel`` encoding time per 10 s scene in batches of 32 (one torch thread),
* the mix level statistics (median RMS, largest peak, clipped samples) for the headroom.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mcdlib.data.templates import INSTRUMENTS
from mcdlib.encoders.audio import get_audio_encoder
from mcdlib.errors import ConfigError
from mcdlib.scenes.audio import audition_scene, get_renderer
from mcdlib.scenes.profiles import get_profile
from mcdlib.scenes.sampling import sample_scenes


def time_per_item(function, items, repeats: int = 2) -> float:
    """Best-of-``repeats`` mean seconds per item of ``function(item)`` over ``items``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            function(item)
        best = min(best, (time.perf_counter() - start) / len(items))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    profile = get_profile("classroom")
    scenes = sample_scenes(profile, seed=args.seed, indices=range(args.scenes))
    rng = np.random.default_rng(args.seed)
    quartets = [audition_scene(list(rng.choice(INSTRUMENTS, 4, replace=False)), seconds=10, seed=k,
                               rhythm=float(rng.choice([1.0, 2.0, 4.0, 8.0])), loudness_db=-7.0)
                for k in range(50)]
    mixes = None
    for name in ("synth", "soundfont"):
        try:
            renderer = get_renderer(name, profile.sample_rate)
        except ConfigError as error:
            print(f"{name:9s}: unavailable ({error})")
            continue
        outputs = [renderer.render(scene) for scene in scenes]  # warm-up, and level statistics
        per_scene = time_per_item(renderer.render, scenes)
        per_quartet = time_per_item(renderer.render, quartets)
        rms = np.median([np.sqrt(np.mean(np.square(o.mix, dtype=np.float64))) for o in outputs])
        peak = max(float(np.abs(o.mix).max()) for o in outputs)
        clipped = sum(o.clipped for o in outputs)
        print(f"{name:9s}: {1000 * per_scene:6.1f} ms/scene (classroom scenes), "
              f"{1000 * per_quartet:6.1f} ms per 10 s 4-instrument scene  [target <= 30 ms]; "
              f"mix median RMS {rms:.4f}, peak {peak:.3f}, clipped samples {clipped}  ({renderer.version})")
        mixes = np.stack([o.mix for o in outputs])

    encoder = get_audio_encoder("logmel", profile.sample_rate)
    encoder.encode(mixes[:32])  # warm-up
    start = time.perf_counter()
    encoder.encode(mixes)
    per_scene = (time.perf_counter() - start) / len(mixes)
    print(f"logmel   : {1000 * per_scene:6.1f} ms per 10 s scene (batches of {encoder.batch_size}, 1 thread)")


if __name__ == "__main__":
    main()
