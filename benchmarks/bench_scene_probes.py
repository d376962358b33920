"""Linear probes of a built music-scenes dataset: do its frozen features carry what the questions ask?

    .venv/bin/python benchmarks/bench_scene_probes.py --data data/music_scenes/classroom
    .venv/bin/python benchmarks/bench_scene_probes.py --data data/music_scenes/classroom_v1 --extra 3000
    .venv/bin/python benchmarks/bench_scene_probes.py --data data/music_scenes/classroom --audio-encoder logmel

Every probe is trained on the dataset's ``train`` videos and scored on its ``test`` videos
(held out: split by video), with :mod:`mcdlib.scenes.probes`:

* column probe: visual grid of a wide shot -> the instrument in each stage column;
* sounding probe: audio features of one second -> which instruments sound (macro ROC-AUC);
* pairwise probes: audio features of the mix -> which of two instruments is louder / more
  rhythmic. Their 22 per-instrument read-outs also train on ``--extra`` further scenes
  (default 6,000) sampled with the dataset's own profile and seed *after* its last video
  (audio rendered and encoded now, exactly as the builder does), so they are never test scenes;
* time-line probe: per-second frame vector -> camera (close-up / wide) and lighting
  (version 2's visual time line; on version-1 data every second is wide and normal).

``--audio-encoder NAME`` re-renders the dataset's scenes and encodes their sound with another
audio encoder (e.g. ``logmel`` on version-2 scenes) for the audio probes, to compare features
on the same scenes; the visual probes are then skipped.

Prints the summaries and the load average; ``--json OUT`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

from mcdlib.data.music_avqa import load_split
from mcdlib.scenes.probes import (PAIR_RELATIONS, encode_probe_data, load_probe_data, probe_columns, probe_pairs,
                                  probe_sounding, probe_time_line)
from mcdlib.scenes.profiles import profile_from_dict
from mcdlib.scenes.sampling import sample_scenes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a music-scenes dataset folder (mcd data synth)")
    parser.add_argument("--extra", type=int, default=6000,
                        help="further held-out scenes rendered to train the pairwise probes (default: %(default)s)")
    parser.add_argument("--audio-encoder", default=None, metavar="NAME",
                        help="probe these audio features of the same scenes instead of the stored ones")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write the results as JSON")
    args = parser.parse_args()

    data_dir = Path(args.data)
    manifest = json.loads((data_dir / "manifest.json").read_text())
    profile = profile_from_dict(manifest["profile"])
    start, load_before = time.perf_counter(), os.getloadavg()[0]
    ids = {split: sorted({q.video_id for q in load_split(data_dir, split)}) for split in ("train", "test")}
    reencode = args.audio_encoder not in (None, profile.audio_encoder)
    train, test = (load_probe_data(data_dir, ids[split], visual=not reencode) for split in ("train", "test"))
    if reencode:  # the same scenes, their sound encoded now with another encoder
        profile = dataclasses.replace(profile, audio_encoder=args.audio_encoder)
        train, test = (encode_probe_data(d.scenes, profile, visual=False, progress=True) for d in (train, test))
    results: dict = {"data": str(data_dir), "version": manifest.get("version", 1),
                     "audio_features": profile.audio_encoder, "train_scenes": len(train),
                     "test_scenes": len(test)}
    print(f"{data_dir} (version {results['version']}, audio {results['audio_features']}): probes trained on "
          f"{len(train)} train scenes, scored on {len(test)} test scenes")

    probes = {"sounding": probe_sounding}
    if train.grids is not None:
        probes["columns"] = probe_columns
    if train.frames is not None and test.frames is not None:
        probes["time_line"] = probe_time_line
    for name, probe in probes.items():
        result = probe(train, test)
        print(result.summary())
        results[name] = dataclasses.asdict(result)

    pair_train = train
    if args.extra > 0:
        extra_scenes = sample_scenes(profile, manifest["seed"], indices=range(profile.videos, profile.videos + args.extra))
        pair_train = train.concat(encode_probe_data(extra_scenes, profile, visual=False, progress=True))
    results["pairs"] = {}
    for relation in PAIR_RELATIONS:
        result = probe_pairs(pair_train, test, relation)
        print(result.summary())
        results["pairs"][relation] = dataclasses.asdict(result)
    results["seconds"] = round(time.perf_counter() - start, 1)
    results["load_average"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    print(f"took {results['seconds']} s; load average (1 min) before / after: "
          f"{results['load_average'][0]} / {results['load_average'][1]}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
