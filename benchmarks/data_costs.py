"""What the mixed corpus costs on this machine: CPU seconds per second of audio for each speech
source (reading or synthesizing) and each augmentation (a fresh draw per utterance, as in a
first session; the room's impulse response is then cached for the session's other utterances,
timed separately). Decides whether augmentation can run on the fly in training.

Run from the repo root: ``python benchmarks/data_costs.py [--utterances 6]``.
"""
import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiolm.data.augment import AUGMENTATIONS, Room, make_augmentation  # noqa: E402
from audiolm.data.sources import SOURCES, make_source  # noqa: E402


def cpu_per_audio_second(fn, audio_seconds: float) -> float:
    start = time.process_time()
    fn()
    return (time.process_time() - start) / audio_seconds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--utterances", type=int, default=6)
    n = p.parse_args().utterances
    clips = []
    for name in SOURCES:
        try:
            source = make_source(name)
        except RuntimeError as exc:
            print(f"{name:9s} skipped: {exc}")
            continue
        rng, items = random.Random(0), []
        speakers = source.speakers()
        start = time.process_time()
        wall = time.time()
        for i in range(n):  # child processes (flite, festival) count in wall time, not process time
            items.append(next(source.utterances(speakers[(i * 7) % len(speakers)], rng)))
        seconds = sum(len(i.audio) for i in items) / 16000
        print(f"{name:9s} {(time.process_time() - start) / seconds:.4f} CPU s / s, "
              f"{(time.time() - wall) / seconds:.4f} wall s / s ({seconds:.0f} s of audio)")
        clips += [i.audio for i in items]
    seconds = sum(len(c) for c in clips) / 16000
    for name in AUGMENTATIONS:
        aug, rng = make_augmentation(name), np.random.default_rng(0)
        cost = cpu_per_audio_second(lambda: [aug(c, 16000, rng) for c in clips], seconds)
        print(f"{name:9s} {cost:.4f} CPU s / s of audio")
    room = Room()
    params = Room(type(room.config)(measured_share=0.0)).sample(np.random.default_rng(0))  # a simulated room
    room.apply(clips[0], 16000, params)
    cost = cpu_per_audio_second(lambda: [room.apply(c, 16000, params) for c in clips], seconds)
    print(f"room, impulse response cached: {cost:.4f} CPU s / s of audio")


if __name__ == "__main__":
    main()
