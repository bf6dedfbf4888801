"""Does the note-clarity figure (``audiolm.evaluation.music.note_clarity``) separate separate notes
from a smeared, noisy texture? It is computed on the held-out clips the piano evaluation uses as
real continuations (``offset + prompt`` s into each piece, ``seconds`` long) and on the same clips
spoiled: white noise at 10 and 0 dB SNR, convolved with decaying noise tails of 0.5 and 1.5 s
(smearing in time), and heard in a simulated or measured room (``augment.Room``: reverb that a
clean recording may have). The same MIDI excerpt played by the Salamander sampler is a second
clean instrument. With ``--bundle`` it also scores the codec round trip of the real clips and the
bundle's own continuations of the 4 s prompts (as ``evaluate_music`` makes them).

Run from the repo root after ``python -m audiolm train corpus --recipe piano``:
``python benchmarks/note_clarity.py [--bundle checkpoints/piano] [--json out.json]``.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiolm.data.piano_corpus import PianoCorpus  # noqa: E402
from audiolm.evaluation.music import _mean_figures, note_clarity  # noqa: E402


def noise_tail(rng, seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return rng.standard_normal(len(t)) * np.exp(-3 * t / seconds)  # -26 dB at its end


def variants(clip: np.ndarray, record: dict, corpus, span: tuple[float, float], rng) -> dict:
    from audiolm.data.augment import Room
    from audiolm.data.salamander import midi_notes, render_notes

    sr, power = corpus.config.sample_rate, np.mean(clip.astype(np.float64) ** 2)
    noise = rng.standard_normal(len(clip))
    room = Room()
    out = {"clean": clip, "noise 10 dB SNR": clip + noise * np.sqrt(power / 10), "noise 0 dB SNR": clip + noise * np.sqrt(power),
           "smeared, 0.5 s noise tail": fftconvolve(clip, noise_tail(rng, 0.5, sr))[:len(clip)],
           "smeared, 1.5 s noise tail": fftconvolve(clip, noise_tail(rng, 1.5, sr))[:len(clip)],
           "in a room (augment.Room)": room(clip, sr, rng)}
    notes = midi_notes(corpus.root / record["midi"])
    out["Salamander sampler, same notes"] = render_notes(notes, sr)[int(span[0] * sr):int(span[1] * sr)]
    return {k: (v * np.sqrt(power / max(np.mean(v.astype(np.float64) ** 2), 1e-12))).astype(np.float32)
            for k, v in out.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/piano")
    parser.add_argument("--pieces", type=int, default=12)
    parser.add_argument("--offset", type=float, default=2.0)
    parser.add_argument("--prompt", type=float, default=4.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--bundle", default=None, help="also score this bundle's codec and continuations")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    corpus = PianoCorpus(args.data)
    sr, rng = corpus.config.sample_rate, np.random.default_rng(0)
    start = args.offset + args.prompt
    chosen = [r for r in corpus.split("heldout") if r["seconds"] >= start + args.seconds][:args.pieces]
    model = None
    if args.bundle:
        import torch

        from audiolm import AudioLM
        torch.set_num_threads(1)
        model = AudioLM.from_pretrained(args.bundle)
    figures: dict[str, list[dict]] = {}
    for i, record in enumerate(chosen):
        wav = corpus.audio(record)
        clip = wav[int(start * sr):int(start * sr) + int(args.seconds * sr)]
        clips = variants(clip, record, corpus, (start, start + args.seconds), rng)
        if model is not None:
            import torch
            with torch.no_grad():
                ids = model.codec.encode(torch.from_numpy(clip)[None])
                clips["codec round trip (all levels)"] = model.codec.decode(ids)[0].numpy()[:len(clip)]
            out = model.continuation(wav[int(args.offset * sr):int(start * sr)], args.seconds, seed=i)
            clips["generated continuation"] = out.audio[0, out.prompt_samples:]
        for name, audio in clips.items():
            figures.setdefault(name, []).append(note_clarity(audio, sr))
        print(f"{record['id']}: " + ", ".join(f"{k.split(',')[0]} {v[-1]['onset_peakiness']:.2f}"
                                               for k, v in figures.items()), flush=True)
    summary = {}
    print(f"\n{len(chosen)} held-out clips of {args.seconds:g} s; onset peakiness mean [min, max]; "
          "spectral flatness geometric mean")
    for name, rows in figures.items():
        peak = [r["onset_peakiness"] for r in rows]
        summary[name] = _mean_figures(rows) | {"onset_peakiness_min": min(peak), "onset_peakiness_max": max(peak)}
        print(f"{name:34s} {np.mean(peak):5.2f} [{min(peak):.2f}, {max(peak):.2f}]   "
              f"{summary[name]['spectral_flatness']:.2e}")
    if args.json:
        Path(args.json).write_text(json.dumps({"bundle": args.bundle, "data": args.data, "pieces": len(chosen),
                                               "seconds": args.seconds,
                                               "figures": summary}, indent=2))


if __name__ == "__main__":
    main()
