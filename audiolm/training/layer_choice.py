"""Which encoder block (and how many clusters) the semantic tokens should read, by measurement.

For every block of a trained encoder: k-means of its features, then
- PNMI of the cluster ids against espeak-ng's phones (content: higher is better), on the espeak
  corpus' training split (``data/speech``, the only audio with phone times);
- speaker-ID from bags of ids, leave one utterance out, on real readers with several utterances
  each (``speechocean762``, training speakers: this is a validation figure, never the held-out
  test-other readers), with chance beside it (speaker cues: lower is better).

    python -m audiolm.training.layer_choice --work runs/speech-mixed --data data/speech
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ..data.heldout import check_not_heldout
from ..data.shared_data import shared_data_path
from ..evaluation.metrics import pnmi
from ..evaluation.token_speakers import bag, bag_speaker_id


def real_readers(folder: Path, speakers: int, utterances: int) -> dict[str, list[np.ndarray]]:
    """``utterances`` recordings of each of the first ``speakers`` speaker folders with that many."""
    out = {}
    for speaker in sorted(p for p in check_not_heldout(folder).iterdir() if p.is_dir()):
        files = sorted(speaker.glob("*.flac"))[:utterances]
        if len(files) == utterances:
            out[speaker.name] = [sf.read(f, dtype="float32")[0] for f in files]
        if len(out) == speakers:
            break
    return out


def block_table(encoder, espeak_corpus, readers: dict, clusters: tuple[int, ...], utterances: int = 150,
                seed: int = 0, blocks: tuple[int, ...] | None = None) -> list[dict]:
    """One row per (block, clusters): PNMI against phones, speaker-ID from bags of ids and its chance."""
    from sklearn.cluster import MiniBatchKMeans
    records = espeak_corpus.split("train")
    records = [records[i] for i in np.random.default_rng(seed).permutation(len(records))[:utterances]]
    rate = encoder.frame_rate

    @torch.inference_mode()
    def layers(wav: np.ndarray) -> list[np.ndarray]:
        _, hidden = encoder(torch.from_numpy(wav)[None])
        return [h[0].numpy() for h in hidden]

    espeak = [layers(espeak_corpus.audio(r)) for r in records]
    phones = [espeak_corpus.frame_phones(r, rate, len(f[0])) for r, f in zip(records, espeak)]
    real = [(speaker, layers(w)) for speaker, waves in readers.items() for w in waves]
    rows = []
    for block in [b - 1 for b in blocks] if blocks else range(len(espeak[0])):
        fit = np.concatenate([f[block] for f in espeak] + [f[block] for _, f in real])
        for k in clusters:
            km = MiniBatchKMeans(k, batch_size=4096, random_state=seed, n_init=3).fit(fit)
            ids = np.concatenate([km.predict(f[block]) for f in espeak])
            bags = np.stack([bag(km.predict(f[block]), k) for _, f in real])
            rows.append({"block": block + 1, "clusters": k,
                         "pnmi": round(pnmi([p for ps in phones for p in ps], ids), 3),
                         "speaker_id": round(bag_speaker_id(bags, [s for s, _ in real]), 3),
                         "chance": round(1 / len(readers), 3)})
    return rows


def main(argv=None) -> None:
    from ..data.speech_corpus import SpeechCorpus
    from .semantic_encoder import load_encoder
    p = argparse.ArgumentParser(prog="python -m audiolm.training.layer_choice", description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="a run folder with a trained semantic_encoder/")
    p.add_argument("--data", default="data/speech", help="the espeak corpus (phone times)")
    p.add_argument("--readers", default=None, help="folder of SPEAKER/*.flac (default: ../shared/data's speechocean762)")
    p.add_argument("--speakers", type=int, default=20)
    p.add_argument("--clusters", type=int, nargs="+", default=[512])
    p.add_argument("--blocks", type=int, nargs="+", default=None, help="1-based (default: every block)")
    p.add_argument("--out", default=None, help="JSON file for the table (default <work>/layer_choice.json)")
    a = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    encoder = load_encoder(Path(a.work) / "semantic_encoder" / "model").eval()
    readers_dir = Path(a.readers) if a.readers else shared_data_path("speech", "speechocean762")
    rows = block_table(encoder, SpeechCorpus(a.data), real_readers(readers_dir, a.speakers, 6), tuple(a.clusters),
                       blocks=tuple(a.blocks) if a.blocks else None)
    print("| block | clusters | PNMI | speaker-ID (chance) |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['block']} | {r['clusters']} | {r['pnmi']:.3f} | {100 * r['speaker_id']:.1f} % "
              f"({100 * r['chance']:.1f} %) |")
    Path(a.out or Path(a.work) / "layer_choice.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
