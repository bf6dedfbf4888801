"""Held-out evaluation of a piano bundle: codec fidelity, whether continuations keep the
prompt's key (chroma) and tempo (onset rate), and whether they are separate notes at all (note
clarity: onset peakiness and spectral flatness).

Every figure of a generated continuation is set beside the same figure for the piece's real
continuation (what the music itself does) and for unrelated pairs (a prompt against other
pieces' continuations: what no memory of the prompt gives).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import librosa
import numpy as np
from tqdm.auto import tqdm

from ..pipeline import AudioLM
from .tables import ceiling_row, codec_table, pct, speed_row, table
from .speech import codec_metrics, continuation_rtf

# Krumhansl-Kessler key profiles (probe-tone ratings), C major / C minor
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass
class MusicEvalConfig:
    codec_pieces: int = 16
    codec_seconds: float = 10.0
    prompts: int = 24  # held-out pieces used as prompts (one prompt each)
    prompt_offset: float = 2.0  # seconds into the piece where the prompt starts
    prompt_seconds: float = 4.0
    continuation_seconds: float = 6.0
    seed: int = 0

    def quick(self) -> "MusicEvalConfig":
        """A small subset (minutes, not the reference figures)."""
        return replace(self, codec_pieces=4, prompts=4)


def mean_chroma(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """Average 12-bin chroma (energy per pitch class) of a clip."""
    return librosa.feature.chroma_stft(y=wav, sr=sample_rate, n_fft=4096, hop_length=512).mean(1)


def chroma_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two mean chroma vectors (1: same pitch-class distribution)."""
    if a.std() < 1e-9 or b.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def estimate_key(chroma: np.ndarray) -> tuple[int, str]:
    """(tonic, mode) whose rotated Krumhansl-Kessler profile correlates best with ``chroma``."""
    scores = [(chroma_correlation(chroma, np.roll(profile, tonic)), tonic, mode)
              for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)) for tonic in range(12)]
    _, tonic, mode = max(scores)
    return tonic, mode


def onset_envelope(wav: np.ndarray, sample_rate: int, hop: int = 256) -> np.ndarray:
    """SuperFlux onset strength (librosa's ``lag=2, max_size=3`` on a log-mel spectrogram)."""
    power = np.abs(librosa.stft(wav, n_fft=2048, hop_length=hop)) ** 2
    mel = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sample_rate, n_mels=128))
    return librosa.onset.onset_strength(S=mel, sr=sample_rate, hop_length=hop, lag=2, max_size=3)


def note_clarity(wav: np.ndarray, sample_rate: int, hop: int = 256) -> dict:
    """Separate notes or a smeared, noisy texture?

    - ``onset_peakiness``: mean of the top decile of the onset-strength envelope over its mean
      (1: no onset stands out; 10: all onset strength in a tenth of the frames). Struck notes give
      sharp peaks; smearing in time and added noise flatten the envelope.
    - ``spectral_flatness``: geometric mean over frames (those within 40 dB of the loudest) of
      librosa's spectral flatness (0: a few partials; 1: white noise). Noise raises it.

    On the 12 first held-out clips the evaluation continues (6 s; ``benchmarks/note_clarity.py``,
    ``benchmarks/results/note-clarity.json``): peakiness 7.1 clean (7.6 through the piano codec,
    7.0 played by the Salamander sampler, 6.3 in a simulated room), 5.5 / 3.5 convolved with a
    0.5 / 1.5 s noise tail, 4.9 with noise at 10 dB SNR, and 5.6 for the shipped piano bundle's
    continuations (below the real continuation on 10 of 12; v1). On the piano-mixed held-out clips
    (``--data data/piano-mixed``, ``note-clarity-piano-mixed.json``): 6.7 clean, 7.2 codec, 5.8 in a
    room, 5.0 / 3.2 smeared, and 5.6 for the piano v2 bundle's continuations. Flatness 0.0004 clean, 0.001 / 0.002
    smeared, 0.09 noisy, but 0.0005 for both the codec round trip and the bundle's continuations:
    it flags noise, peakiness flags smearing.
    """
    if not len(wav) or not np.any(wav):
        return {"onset_peakiness": 0.0, "spectral_flatness": 1.0}
    envelope = onset_envelope(wav, sample_rate, hop)
    top = np.sort(envelope)[-max(len(envelope) // 10, 1):].mean()
    peakiness = float(top / envelope.mean()) if envelope.mean() > 0 else 0.0
    magnitude = np.abs(librosa.stft(wav, n_fft=2048, hop_length=hop))
    flatness = librosa.feature.spectral_flatness(S=magnitude)[0]
    level = np.sqrt(np.mean(magnitude ** 2, axis=0))
    loud = level >= level.max() * 10 ** (-40 / 20)
    return {"onset_peakiness": peakiness,
            "spectral_flatness": float(np.exp(np.mean(np.log(np.maximum(flatness[loud], 1e-10)))))}


def onset_times(wav: np.ndarray, sample_rate: int, hop: int = 256) -> np.ndarray:
    """Detected note onsets, in seconds: SuperFlux (``onset_envelope``), then librosa's peak picking."""
    envelope = onset_envelope(wav, sample_rate, hop)
    return librosa.onset.onset_detect(onset_envelope=envelope, sr=sample_rate, hop_length=hop, units="time")


def onset_rate(wav: np.ndarray, sample_rate: int, hop: int = 256) -> float:
    """Detected note onsets per second (``onset_times``).

    On 24 held-out corpus pieces this gives 1.00× the MIDI's onset rate (correlation 0.99;
    ``python benchmarks/onset_detector.py``);
    plain spectral flux gives 1.82× (the piano's decays and reverb add false onsets).
    """
    return len(onset_times(wav, sample_rate, hop)) / (len(wav) / sample_rate)


def onset_log2_ratio(rate: float, prompt_rate: float) -> float:
    """log2(continuation's onset rate / the prompt's), rates floored at 1e-3: below 0 fewer onsets than the prompt."""
    return float(np.log2(max(rate, 1e-3) / max(prompt_rate, 1e-3)))


def onset_rate_error(rate: float, prompt_rate: float) -> float:
    """abs(``onset_log2_ratio``): 1 is twice or half the tempo."""
    return abs(onset_log2_ratio(rate, prompt_rate))


def _pair_figures(prompts_chroma, prompts_rate, chroma, rates, keys_prompt, keys) -> dict:
    n = len(prompts_chroma)
    same = [chroma_correlation(prompts_chroma[i], chroma[i]) for i in range(n)]
    unrelated = [chroma_correlation(prompts_chroma[i], chroma[j]) for i in range(n) for j in range(n) if j != i]
    log_ratio = [onset_rate_error(rates[i], prompts_rate[i]) for i in range(n)]
    log_ratio_unrelated = [onset_rate_error(rates[j], prompts_rate[i]) for i in range(n) for j in range(n) if j != i]
    return {"chroma_correlation": float(np.mean(same)), "chroma_correlation_unrelated": float(np.mean(unrelated)),
            "same_estimated_key": float(np.mean([keys_prompt[i] == keys[i] for i in range(n)])),
            "same_estimated_key_unrelated": float(np.mean([keys_prompt[i] == keys[j] for i in range(n)
                                                           for j in range(n) if j != i])),
            "onset_rate_ratio_median": float(np.median([rates[i] / max(prompts_rate[i], 1e-3) for i in range(n)])),
            "onset_rate_abs_log2_ratio": float(np.mean(log_ratio)),
            "onset_rate_abs_log2_ratio_unrelated": float(np.mean(log_ratio_unrelated))}


def _mean_figures(figures: list[dict]) -> dict:
    """Mean peakiness; geometric mean flatness (it spans decades)."""
    return {"onset_peakiness": float(np.mean([f["onset_peakiness"] for f in figures])),
            "spectral_flatness": float(np.exp(np.mean([np.log(max(f["spectral_flatness"], 1e-10))
                                                       for f in figures])))}


def evaluate_music(model: AudioLM, corpus, config: MusicEvalConfig | None = None) -> dict:
    config = config or MusicEvalConfig()
    sr = model.config.sample_rate
    pieces = corpus.split("heldout")
    results: dict = {"kind": "piano", "config": asdict(config), "heldout_pieces": len(pieces)}

    waves = [corpus.audio(r)[: int(config.codec_seconds * sr)] for r in pieces[:config.codec_pieces]]
    results["codec"], rows = codec_metrics(model, waves)
    results["codec_side_by_side"] = {"piano": rows}

    start, p_len = int(config.prompt_offset * sr), int(config.prompt_seconds * sr)
    c_len = int(config.continuation_seconds * sr)
    chosen = [r for r in pieces if r["seconds"] >= config.prompt_offset + config.prompt_seconds
              + config.continuation_seconds][:config.prompts]
    if not chosen:
        raise ValueError(f"no held-out piece lasts {config.prompt_offset + config.prompt_seconds:g} s of offset and "
                         f"prompt plus {config.continuation_seconds:g} s of continuation")
    prompt_chroma, prompt_rate, prompt_key = [], [], []
    real_chroma, real_rate, real_key = [], [], []
    gen_chroma, gen_rate, gen_key = [], [], []
    labelled_key = []
    clarity: dict[str, list[dict]] = {"prompt": [], "real": [], "generated": []}
    for i, record in enumerate(tqdm(chosen, desc="continuation", leave=False)):
        wav = corpus.audio(record)
        prompt, real = wav[start:start + p_len], wav[start + p_len:start + p_len + c_len]
        out = model.continuation(prompt, config.continuation_seconds, seed=config.seed + i)
        generated = out.audio[0, out.prompt_samples:]
        for clip, chroma, rate, key in ((prompt, prompt_chroma, prompt_rate, prompt_key),
                                        (real, real_chroma, real_rate, real_key),
                                        (generated, gen_chroma, gen_rate, gen_key)):
            chroma.append(mean_chroma(clip, sr))
            rate.append(onset_rate(clip, sr))
            key.append(estimate_key(chroma[-1]))
        labelled_key.append((record["tonic"], record["mode"]))
        for name, clip in (("prompt", prompt), ("real", real), ("generated", generated)):
            clarity[name].append(note_clarity(clip, sr))
    results["continuation"] = {
        "prompts": len(chosen), "prompt_seconds": config.prompt_seconds, "seconds": config.continuation_seconds,
        "generated": _pair_figures(prompt_chroma, prompt_rate, gen_chroma, gen_rate, prompt_key, gen_key),
        "real_continuation": _pair_figures(prompt_chroma, prompt_rate, real_chroma, real_rate, prompt_key, real_key),
        "key_estimator_accuracy_on_prompts": float(np.mean([a == b for a, b in zip(prompt_key, labelled_key)])),
        "note_clarity": {name: _mean_figures(figures) for name, figures in clarity.items()},
    }
    results["speed"] = continuation_rtf(model, corpus.audio(chosen[0])[start:start + p_len])
    return results


def markdown(results: dict) -> str:
    rows = [("what", "metric", "ours", "reference")]
    for key, codec in results["codec"].items():
        if key == "griffin_lim_ceiling":
            rows.append(ceiling_row(codec))
            continue
        rows.append((f"codec, {codec['name']}={codec['levels']} levels", "mel distance / PESQ-WB / STOI",
                     f"{codec['mel_distance']:.3f} / {codec['pesq_wb']:.2f} / {codec['stoi']:.3f}", "—"))
    c = results["continuation"]
    g, r = c["generated"], c["real_continuation"]
    what = f"continuation, {c['prompt_seconds']:g} s prompts → {c['seconds']:g} s ({c['prompts']} pieces)"
    rows.append((what, "chroma correlation with the prompt: own continuation / unrelated pairs",
                 f"{g['chroma_correlation']:.3f} / {g['chroma_correlation_unrelated']:.3f}",
                 f"real continuation {r['chroma_correlation']:.3f} / {r['chroma_correlation_unrelated']:.3f}"))
    rows.append((what, "same estimated key as the prompt: own / unrelated",
                 f"{pct(g['same_estimated_key'])} / {pct(g['same_estimated_key_unrelated'])}",
                 f"real {pct(r['same_estimated_key'])} / {pct(r['same_estimated_key_unrelated'])} (estimator "
                 f"right on {pct(c['key_estimator_accuracy_on_prompts'])} of prompts)"))
    rows.append((what, "onset-rate ratio continuation ÷ prompt: median; mean abs(log2 ratio) own / unrelated",
                 f"{g['onset_rate_ratio_median']:.2f}; {g['onset_rate_abs_log2_ratio']:.2f} / "
                 f"{g['onset_rate_abs_log2_ratio_unrelated']:.2f}",
                 f"real {r['onset_rate_ratio_median']:.2f}; {r['onset_rate_abs_log2_ratio']:.2f} / "
                 f"{r['onset_rate_abs_log2_ratio_unrelated']:.2f}"))
    if "note_clarity" in c:  # results written before the figure have none
        n = c["note_clarity"]
        rows.append((what, "note clarity: onset peakiness (top-decile ÷ mean onset strength; higher = separate "
                     "notes) / spectral flatness (lower = less noise)",
                     f"{n['generated']['onset_peakiness']:.2f} / {n['generated']['spectral_flatness']:.4f}",
                     f"real continuation {n['real']['onset_peakiness']:.2f} / {n['real']['spectral_flatness']:.4f}; "
                     f"prompts {n['prompt']['onset_peakiness']:.2f} / {n['prompt']['spectral_flatness']:.4f}"))
    rows.append(speed_row(results["speed"], "—"))
    return table(rows) + "\n\n" + codec_table(results.get("codec_side_by_side", {}))
