"""Metric wrappers: PESQ-WB and STOI from their packages, mel distance, phone purity / PNMI, n-gram diversity."""
from __future__ import annotations

import librosa
import numpy as np
from sklearn.metrics import mutual_info_score


def pesq_wb(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = 16000) -> float:
    from pesq import pesq
    n = min(len(reference), len(degraded))
    return float(pesq(sample_rate, reference[:n], degraded[:n], "wb"))


def stoi(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = 16000) -> float:
    from pystoi import stoi as _stoi
    n = min(len(reference), len(degraded))
    return float(_stoi(reference[:n], degraded[:n], sample_rate, extended=False))


MEL_RESOLUTIONS = ((512, 40), (1024, 80), (2048, 128))  # (n_fft, mel bands); hop = n_fft / 4


def mel_distance(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = 16000,
                 resolutions=MEL_RESOLUTIONS) -> float:
    """Multi-resolution mel distance: mean absolute log-mel difference (nats), averaged over resolutions."""
    n = min(len(reference), len(degraded))

    def log_mel(x, n_fft, n_mels):
        return np.log(librosa.feature.melspectrogram(y=x[:n], sr=sample_rate, n_fft=n_fft, hop_length=n_fft // 4,
                                                     n_mels=n_mels) + 1e-5)
    return float(np.mean([np.abs(log_mel(reference, f, m) - log_mel(degraded, f, m)).mean()
                          for f, m in resolutions]))


def phone_purity(phones: list[str], clusters: np.ndarray) -> float:
    """Fraction of frames whose phone is the most frequent phone of their cluster."""
    phones = np.asarray(phones)
    total = 0
    for k in np.unique(clusters):
        _, counts = np.unique(phones[clusters == k], return_counts=True)
        total += counts.max()
    return total / len(phones)


def pnmi(phones: list[str], clusters: np.ndarray) -> float:
    """Phone-normalised mutual information I(phone; cluster) / H(phone) (HuBERT's measure)."""
    _, counts = np.unique(np.asarray(phones), return_counts=True)
    p = counts / counts.sum()
    entropy = float(-(p * np.log(p)).sum())
    return mutual_info_score(phones, clusters) / entropy if entropy > 0 else 0.0


def chance_agreement(ids: np.ndarray) -> float:
    """Agreement of two independent draws from the ids' marginal distribution: sum p_k^2."""
    _, counts = np.unique(ids, return_counts=True)
    p = counts / counts.sum()
    return float((p ** 2).sum())


def ngrams(ids, n: int) -> list[tuple]:
    ids = list(np.asarray(ids).tolist())
    return [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]


def distinct_ngrams(sequences, n: int) -> float:
    """Distinct-n over a pool of sequences: unique n-grams / all n-grams (1.0: nothing repeats)."""
    pool = [g for seq in sequences for g in ngrams(seq, n)]
    return len(set(pool)) / len(pool) if pool else 0.0


def pairwise_ngram_overlap(sequences, n: int) -> float:
    """Mean Jaccard overlap of the n-gram sets of every pair of sequences (1.0: all samples alike)."""
    sets = [set(ngrams(seq, n)) for seq in sequences]
    pairs = [(a, b) for i, a in enumerate(sets) for b in sets[i + 1:]]
    return float(np.mean([len(a & b) / max(len(a | b), 1) for a, b in pairs])) if pairs else 0.0


def copied_ngrams(known, new, n: int = 4) -> float:
    """Share of ``new``'s n-grams that occur in ``known`` (nan when ``new`` is shorter than n): how much of a
    continuation replays its prompt. A model adapted to its prompt can keep the prompt's voice by repeating it
    (benchmarks/results/speech-mixed-progress.json, real_ids_plans_and_prompt_adaptation_2026_12_07)."""
    grams, seen = ngrams(new, n), set(ngrams(known, n))
    return float(np.mean([g in seen for g in grams])) if grams else float("nan")


SILENCE_RMS = 10 ** (-50 / 20)  # -50 dBFS


def degeneracy(wav: np.ndarray, ids, loop_ngram: int = 4, min_distinct: float = 0.25) -> str | None:
    """Why an output is degenerate ("non-finite", "silent", "loop"), or None when it is not.

    A loop is a token sequence whose distinct-``loop_ngram`` ratio falls under ``min_distinct``
    (the same few n-grams over and over) or whose commonest token fills more than half the frames.
    """
    if not np.isfinite(wav).all():
        return "non-finite"
    if np.sqrt(np.mean(np.square(wav, dtype=np.float64))) < SILENCE_RMS:
        return "silent"
    ids = np.asarray(ids)
    if len(ids) and (distinct_ngrams([ids], loop_ngram) < min_distinct
                     or np.bincount(ids).max() > 0.5 * len(ids)):
        return "loop"
    return None
