"""The codec's voice decoder (``audiolm/codec/voice_decoder.py``) on the real held-out readers (LibriSpeech
test-other): speaker similarity (resemblyzer GE2E) to the reader's enrollment centroid, and how often the reader's
centroid is the nearest of the 10.

1. Decoding true ids: each reader's first utterance of at least 7 s, its 4 s after the first 3 s decoded from all 12
   levels, from the first ``voice_levels`` only, and from those in the voice of the 3 s before (the voice decoder).
2. Continuations: up to 5 such utterances per reader, their first 3 s continued by 4 s with the bundle's settings,
   the same tokens decoded with the voice decoder off and on (the same seed draws the same tokens: paired).

    python benchmarks/voice_decoder.py [--bundle checkpoints/speech] [--out FILE.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from audiolm.data.heldout import default_heldout_dir  # noqa: E402
from audiolm.evaluation.similarity import SpeakerEmbedder, SpeakerSimilarity  # noqa: E402
from audiolm.evaluation.voices import long_enough, real_voices  # noqa: E402
from audiolm.pipeline import AudioLM  # noqa: E402

PROMPT_SECONDS, NEXT_SECONDS, PER_READER, READERS = 3.0, 4.0, 5, 10


def paired(judge, key, base) -> dict:
    rows, base = np.array(judge.rows[key]), np.array(judge.rows[base])
    d = rows - base
    return {"sim": round(float(rows.mean()), 4), "paired": round(float(d.mean()), 4),
            "paired_se": round(float(d.std(ddof=1) / np.sqrt(len(d))), 4)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", default="checkpoints/speech")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = AudioLM.from_pretrained(args.bundle)
    codec, sr = model.codec, model.config.sample_rate
    if not codec.voice_levels:
        raise SystemExit(f"{args.bundle}'s codec has no voice decoder")
    levels, P, N = codec.voice_levels, int(PROMPT_SECONDS * sr), int(NEXT_SECONDS * sr)
    real = real_voices(default_heldout_dir(), sr, READERS)
    judge = SpeakerSimilarity(SpeakerEmbedder(sr), {s: real.enroll[s] for s in real.speakers})
    clips = [(s, long_enough(real.test[s], PROMPT_SECONDS + NEXT_SECONDS, sr)[:PER_READER]) for s in real.speakers]
    known, true_ids = P // codec.hop_length, {}
    for speaker, waves in clips:
        wav = waves[0][:P + N]
        ids = true_ids[speaker] = codec.encode(torch.from_numpy(wav)[None])
        for name, audio in (("real", wav), ("all levels", codec.decode(ids)[0].numpy()),
                            (f"first {levels} levels", codec.decode(ids[:, :levels])[0].numpy()),
                            ("voice decoder", codec.decode_in_voice(ids, ids[:, :, :known])[0].numpy())):
            judge.add(audio[P:], {f"true {name}": speaker})
    true = {k.split(" ", 1)[1]: round(v, 4) for k, v in judge.figures(*(k for k in judge.rows)).items()}
    for i, speaker in enumerate(real.speakers):  # the same 4 s in the voice of the next reader's first 3 s
        other = real.speakers[(i + 1) % len(real.speakers)]
        reference = true_ids[other][:, :, :known]
        judge.add(codec.decode_in_voice(true_ids[speaker][:, :, known:], reference)[0].numpy(),
                  {"sim to the ids' reader": speaker, "sim to the reference's reader": other},
                  {"reference's reader nearest": other, "ids' reader nearest": speaker})
    conversion = {k: round(v, 4) for k, v in judge.figures("sim to the ids' reader", "sim to the reference's reader",
                                                            "reference's reader nearest", "ids' reader nearest").items()}
    print(json.dumps({"true ids": true, "conversion": conversion}), flush=True)
    settings = {on: replace(model.default_settings, voice_decoder=on) for on in (False, True)}
    for i, (speaker, wav) in enumerate((s, w[:P + N]) for s, waves in clips for w in waves):
        for on in (False, True):
            result = model.continuation(wav[:P], NEXT_SECONDS, seed=i, settings=settings[on])
            audio = result.audio[0, result.prompt_samples:]
            judge.add(audio, {f"sim {on}": speaker}, {f"nearest {on}": speaker})
    nearest = judge.figures("nearest False", "nearest True")
    out = {"bundle": args.bundle, "true ids": true, "conversion": conversion, "continuations": len(judge.rows["sim True"]),
           "voice decoder off": {"sim": round(float(np.mean(judge.rows["sim False"])), 4),
                                 "nearest": round(nearest["nearest False"], 3)},
           "voice decoder on": {**paired(judge, "sim True", "sim False"), "nearest": round(nearest["nearest True"], 3)}}
    print(json.dumps(out, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
