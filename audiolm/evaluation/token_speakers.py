"""Do the semantic tokens carry the speaker?

- speaker-ID from *bags* of ids (histograms, no order) on real held-out readers, leave one
  utterance out, beside chance and the same classifier on level-1 codec ids (which should carry
  the voice): good semantic tokens sit near chance;
- the same sentences rendered by several held-out synthetic voices: the normalized edit distance
  between their semantic id sequences (runs deduplicated) across voices, against the distance
  between different sentences. Speaker-invariant tokens make the first much smaller.
"""
from __future__ import annotations

import random
from itertools import combinations, groupby

import numpy as np

from .round_trips import semantic_ids


def bag(ids: np.ndarray, vocab: int) -> np.ndarray:
    return np.bincount(np.asarray(ids), minlength=vocab) / max(len(ids), 1)


def bag_speaker_id(bags: np.ndarray, speakers: list) -> float:
    """Leave-one-utterance-out accuracy of a logistic regression on bags of ids."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import LeaveOneOut, cross_val_predict
    predicted = cross_val_predict(LogisticRegression(max_iter=5000), bags, np.asarray(speakers), cv=LeaveOneOut())
    return float((predicted == np.asarray(speakers)).mean())


def real_speaker_id(model, waves_by_speaker: dict) -> dict:
    """Bags of semantic ids and of level-1 codec ids of every utterance of every real reader."""
    semantic, acoustic, labels = [], [], []
    for speaker, waves in waves_by_speaker.items():
        for wav in waves:
            sem, ac = model.tokenize(model.aligned(wav))
            semantic.append(bag(sem[0].cpu().numpy(), model.config.semantic_vocab))
            acoustic.append(bag(ac[0, 0].cpu().numpy(), model.config.codebook_size))
            labels.append(speaker)
    return {"speakers": len(waves_by_speaker), "utterances": len(labels),
            "from_semantic_ids": bag_speaker_id(np.stack(semantic), labels),
            "from_codec_level_1_ids": bag_speaker_id(np.stack(acoustic), labels),
            "chance": 1 / len(waves_by_speaker)}


def dedup(ids) -> list[int]:
    """Runs collapsed: ``[3, 3, 5, 5, 5, 3] -> [3, 5, 3]``."""
    return [k for k, _ in groupby(np.asarray(ids).tolist())]


def edit_distance(a, b) -> float:
    """Levenshtein distance / the longer length (0: identical, 1: nothing in common)."""
    from rapidfuzz.distance import Levenshtein
    return float(Levenshtein.normalized_distance(list(a), list(b)))


def cross_voice_distances(sequences: dict) -> dict:
    """``sequences[(sentence, voice)] = ids``: mean normalized edit distance (runs deduplicated)
    between the same sentence in two voices, and between different sentences in two voices."""
    keys = sorted(sequences)
    seqs = {k: dedup(v) for k, v in sequences.items()}
    same, different = [], []
    for a, b in combinations(keys, 2):
        if a[1] == b[1]:
            continue  # same voice: not a cross-voice pair
        (same if a[0] == b[0] else different).append(edit_distance(seqs[a], seqs[b]))
    return {"same_sentence": float(np.mean(same)), "different_sentences": float(np.mean(different)),
            "pairs_same": len(same), "pairs_different": len(different)}


def render_sentences(voices: list[dict], count: int, seed: int, sample_rate: int) -> dict:
    """``count`` held-out sentences spoken by each espeak-ng ``voices`` entry (the corpus' held-out
    speakers): ``{(sentence index, voice index): wav}``."""
    import soxr

    from ..data.espeak import Espeak, Voice
    from ..data.sentences import sentences
    engine = Espeak()
    texts = sentences(random.Random(f"invariance-{seed}"), heldout=True, count=count)
    fields = ("language", "variant", "pitch", "pitch_range", "rate")
    out = {}
    for v, spec in enumerate(voices):
        voice = Voice(**{f: spec[f] for f in fields})
        for s, text in enumerate(texts):
            utt = engine.synthesize(text, voice)
            out[(s, v)] = soxr.resample(utt.audio.astype(np.float32) / 32768, utt.sample_rate, sample_rate)
    return out


def invariance(model, voices: list[dict], count: int, seed: int) -> dict:
    """Cross-voice edit distances of the semantic ids of ``count`` sentences in every held-out voice."""
    waves = render_sentences(voices, count, seed, model.config.sample_rate)
    ids = {k: semantic_ids(model.semantic_tokenizer, model.aligned(w)) for k, w in waves.items()}
    return cross_voice_distances(ids) | {"sentences": count, "voices": len(voices)}
