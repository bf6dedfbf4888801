"""Held-out evaluation of a speech bundle (speakers and sentences never seen in training).

The held-out split has ``heldout_utterances`` utterances per unseen speaker: the first half
trains the speaker classifier ("other utterances of the held-out speakers"), the second half
supplies the test material (codec inputs, prompts, acoustic-generation inputs, tokens).
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..pipeline import AudioLM
from .anchors import Uncoded, our_codecs, reference_codecs, side_by_side
from .metrics import degeneracy, distinct_ngrams, pairwise_ngram_overlap, pesq_wb, phone_purity, pnmi, stoi
from .round_trips import semantic_ids
from .speaker_figures import Judges, voice_figures
from .token_speakers import invariance, real_speaker_id
from .voices import real_voices, synthetic_voices


@dataclass
class SpeechEvalConfig:
    codec_utterances: int = 4  # per held-out speaker
    prompts: int = 4  # continuation prompts per held-out speaker
    prompt_seconds: float = 3.0
    continuation_seconds: float = 4.0
    acoustic_inputs: int = 2  # per held-out speaker
    acoustic_max_seconds: float = 6.0
    rtf_prompt_seconds: float = 3.0
    unconditional_samples: int = 16  # seeds (the speech v2 bar: no degenerate sample in 16)
    unconditional_seconds: float = 4.0
    classifier_on_resynthesis: bool = True  # train the speaker classifier on codec round trips
    enroll_utterances: int | None = None  # per speaker for centroids and the classifier (None: the whole half)
    invariance_sentences: int = 8  # sentences rendered by every held-out synthetic voice
    real_speakers: int | None = None  # real held-out readers used (None: all)
    seed: int = 0

    def quick(self) -> "SpeechEvalConfig":
        """A small subset (minutes, not the reference figures): check a training run while it goes."""
        return replace(self, codec_utterances=1, prompts=1, acoustic_inputs=1, unconditional_samples=2,
                       enroll_utterances=3, invariance_sentences=3, real_speakers=5)


def _split(corpus):
    by_speaker: dict[int, list[dict]] = {}
    for record in corpus.split("heldout"):
        by_speaker.setdefault(record["speaker"], []).append(record)
    enroll = {s: r[: len(r) // 2] for s, r in by_speaker.items()}
    test = {s: r[len(r) // 2:] for s, r in by_speaker.items()}
    return enroll, test


def codec_metrics(model: AudioLM, waves: list[np.ndarray]) -> tuple[dict, list[dict]]:
    """The bundle codec's PESQ-WB, STOI and mel distance at Q and Q' levels (with the Griffin-Lim
    ceiling when the codec synthesises that way), and the side-by-side rows of ours and the
    reference codecs on the same clips."""
    ours = our_codecs(model)
    rows = side_by_side(ours + reference_codecs(), waves, model.config.sample_rate)
    out = {f"levels_{codec.levels}": {k: row[k] for k in ("pesq_wb", "stoi", "mel_distance")}
           | {"levels": codec.levels, "name": codec.label} for codec, row in zip(ours, rows)}
    # the ceiling of the codec's synthesis (Griffin-Lim from the *true* magnitudes), no quantization
    ceilings = [model.codec.synthesis_ceiling(torch.from_numpy(wav)[None]) for wav in waves]
    if ceilings and ceilings[0] is not None:
        scores = {"pesq_wb": [], "stoi": []}
        for wav, y in zip(waves, ceilings):
            y = y[0].numpy()[: len(wav)]
            scores["pesq_wb"].append(pesq_wb(wav, y))
            scores["stoi"].append(stoi(wav, y))
        out["griffin_lim_ceiling"] = {k: float(np.mean(v)) for k, v in scores.items()}
    return out, rows


def semantic_metrics(tokenizer, corpus, enroll: dict, test: dict) -> dict:
    """Phone purity / PNMI of the tokens against espeak's phones, and speaker-ID from token histograms."""
    ids = {r["id"]: semantic_ids(tokenizer, corpus.audio(r))
           for group in (enroll, test) for records in group.values() for r in records}  # each utterance once
    phones = [p for records in test.values() for r in records
              for p in corpus.frame_phones(r, tokenizer.frame_rate, len(ids[r["id"]]))]
    clusters = np.concatenate([ids[r["id"]] for records in test.values() for r in records])
    K = tokenizer.config.num_clusters

    def histograms(groups):
        feats = [np.bincount(ids[r["id"]], minlength=K) / len(ids[r["id"]])
                 for records in groups.values() for r in records]
        labels = [speaker for speaker, records in groups.items() for _ in records]
        return np.stack(feats), np.array(labels)

    from sklearn.linear_model import LogisticRegression
    x_train, y_train = histograms(enroll)
    x_test, y_test = histograms(test)
    clf = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    return {"phone_purity": phone_purity(phones, clusters), "pnmi": pnmi(phones, clusters),
            "speaker_id_from_tokens": float((clf.predict(x_test) == y_test).mean()),
            "speaker_id_chance": 1 / len(enroll), "frames": int(len(clusters)),
            "clusters_used": int(len(np.unique(clusters)))}


class Stopwatch:
    """Seconds per section of an evaluation, kept in its JSON (``results["seconds"]``)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, section: str):
        start = time.perf_counter()
        yield
        self.seconds[section] = round(time.perf_counter() - start, 1)


def evaluate_speech(model: AudioLM, corpus, config: SpeechEvalConfig | None = None,
                    real_root: str | Path | None = None, judges: Judges | None = None) -> dict:
    """Every held-out speech figure: synthetic held-out speakers from ``corpus`` and, when
    ``real_root`` is given, real readers (``SPEAKER/*.flac``, LibriSpeech test-other by default)."""
    config = config or SpeechEvalConfig()
    judges = judges or Judges(embedder_skipped="not requested", mos_skipped="not requested")
    sr = model.config.sample_rate
    clock = Stopwatch()
    synthetic = synthetic_voices(corpus)
    speakers = synthetic.speakers
    results: dict = {"config": asdict(config), "heldout_speakers": len(speakers)}
    codec_waves = [w for s in speakers for w in synthetic.test[s][:config.codec_utterances]]
    with clock("codec"):
        results["codec"], rows = codec_metrics(model, codec_waves)
        results["codec_side_by_side"] = {"synthetic": rows}
    with clock("semantic tokens"):
        enroll, test = _split(corpus)
        results["semantic_tokens"] = semantic_metrics(model.semantic_tokenizer, corpus, enroll, test)
        heldout = [s for s in json.loads((corpus.root / "corpus.json").read_text())["speakers"]
                   if s["split"] == "heldout"]
        try:
            results["token_invariance"] = invariance(model, heldout, config.invariance_sentences, config.seed)
        except RuntimeError as exc:  # espeak-ng missing
            results["token_invariance"] = {"skipped": str(exc)}
    with clock("voices"):  # the synthetic voices' figures stay at the top level, the real ones under "real_voices"
        results |= voice_figures(model, synthetic, config, judges)
    with clock("unconditional"):
        results["unconditional"] = unconditional_metrics(model, [synthetic.test[s][-1] for s in speakers], config)
    with clock("speed"):
        results["speed"] = continuation_rtf(model, codec_waves[0][:int(config.rtf_prompt_seconds * sr)])
    results["seconds"] = clock.seconds
    if real_root is None:
        results["real_voices"] = {"skipped": "no real held-out voices (pass --real-voices DIR)"}
        return results
    real = real_voices(real_root, sr, config.real_speakers)
    with clock("real voices"):
        results["real_voices"] = {"folder": str(real_root)} | voice_figures(model, real, config, judges)
        results["real_voices"]["tokens_speaker_id"] = real_speaker_id(
            model, {s: real.enroll[s] + real.test[s] for s in real.speakers})
    with clock("real codec"):
        waves = [w for s in real.speakers for w in real.test[s][:config.codec_utterances]]
        results["codec_side_by_side"]["real"] = side_by_side([Uncoded()] + our_codecs(model) + reference_codecs(),
                                                             waves, sr, mos=judges.mos)
    return results


def unconditional_metrics(model: AudioLM, reference_audio: list[np.ndarray], config: SpeechEvalConfig) -> dict:
    """Diversity across seeds (distinct semantic n-grams, pairwise overlap) and degenerate outputs.

    The same figures of ``reference_audio`` (held-out real speech cut to the same length, one utterance
    per speaker) say what natural variety looks like; the degeneracy check must pass on it.
    """
    ids, reasons = [], []
    for i in tqdm(range(config.unconditional_samples), desc="unconditional", leave=False):
        out = model.unconditional(config.unconditional_seconds, seed=config.seed + i)
        ids.append(out.semantic_ids[0].cpu().numpy())
        reasons.append(degeneracy(out.audio[0], ids[-1]))
    frames, samples = len(ids[0]), int(config.unconditional_seconds * model.config.sample_rate)
    reference_audio = [wav[:samples] for wav in reference_audio]
    reference = [semantic_ids(model.semantic_tokenizer, model.aligned(wav)) for wav in reference_audio]

    def diversity(seqs):
        return {f"distinct_{n}": distinct_ngrams(seqs, n) for n in (1, 2, 3)} | {
            "pairwise_3gram_overlap": pairwise_ngram_overlap(seqs, 3)}
    return {"samples": len(ids), "seconds": config.unconditional_seconds, "semantic_frames": frames,
            "generated": diversity(ids), "heldout_speech": diversity(reference),
            "heldout_speech_sequences": len(reference),
            "degenerate_rate": float(np.mean([r is not None for r in reasons])),
            "degenerate_reasons": {k: reasons.count(k) for k in ("non-finite", "silent", "loop")},
            "heldout_speech_degenerate_rate": float(np.mean([degeneracy(wav, r) is not None
                                                             for wav, r in zip(reference_audio, reference)]))}


def continuation_rtf(model: AudioLM, prompt: np.ndarray, short: float = 2.0, long: float = 10.0,
                     repeats: int = 2) -> dict:
    """Marginal real-time factor: (time for ``long`` s of new audio - time for ``short`` s) / (long - short)."""
    def timed(seconds):
        best = float("inf")
        for r in range(repeats):
            started = time.perf_counter()
            model.continuation(prompt, seconds, seed=r)
            best = min(best, time.perf_counter() - started)
        return best
    model.continuation(prompt, 0.5)  # warm-up
    t_short, t_long = timed(short), timed(long)
    return {"continuation_seconds_short": t_short, "continuation_seconds_long": t_long,
            "continuation_rtf_long": t_long / long, "continuation_marginal_rtf": (t_long - t_short) / (long - short),
            "threads": torch.get_num_threads()}
