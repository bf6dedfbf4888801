"""Held-out evaluation of a speech bundle (speakers and sentences never seen in training).

The held-out split has ``heldout_utterances`` utterances per unseen speaker: the first half
trains the speaker classifier ("other utterances of the held-out speakers"), the second half
supplies the test material (codec inputs, prompts, acoustic-generation inputs, tokens).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..pipeline import AudioLM
from .metrics import (chance_agreement, degeneracy, distinct_ngrams, mel_distance, pairwise_ngram_overlap,
                      pesq_wb, phone_purity, pnmi, stoi)
from .speaker import SpeakerClassifier


@dataclass
class SpeechEvalConfig:
    codec_utterances: int = 4  # per held-out speaker
    prompts: int = 4  # continuation prompts per held-out speaker
    prompt_seconds: float = 3.0
    continuation_seconds: float = 4.0
    acoustic_inputs: int = 2  # per held-out speaker
    acoustic_max_seconds: float = 6.0
    rtf_prompt_seconds: float = 3.0
    unconditional_samples: int = 8  # seeds
    unconditional_seconds: float = 4.0
    classifier_on_resynthesis: bool = True  # train the speaker classifier on codec round trips
    seed: int = 0


def _split(corpus):
    by_speaker: dict[int, list[dict]] = {}
    for record in corpus.split("heldout"):
        by_speaker.setdefault(record["speaker"], []).append(record)
    enroll = {s: r[: len(r) // 2] for s, r in by_speaker.items()}
    test = {s: r[len(r) // 2:] for s, r in by_speaker.items()}
    return enroll, test


def resynthesize(model: AudioLM, wav: np.ndarray, levels: int | None = None) -> np.ndarray:
    ids = model.codec.encode(torch.from_numpy(wav)[None].to(model.device))
    return model.codec.decode(ids[:, :levels])[0].float().cpu().numpy()[: len(wav)]


def codec_metrics(model: AudioLM, waves: list[np.ndarray]) -> dict:
    """PESQ-WB, STOI and mel distance of codec round trips at Q and Q' levels (and the Griffin-Lim
    ceiling when the codec synthesises that way)."""
    out = {}
    levels = {"Q": model.config.num_quantizers, "Q'": model.config.num_coarse}
    for name, q in levels.items():
        scores = {"pesq_wb": [], "stoi": [], "mel_distance": []}
        for wav in tqdm(waves, desc=f"codec at {name}={q}", leave=False):
            y = resynthesize(model, wav, q)
            scores["pesq_wb"].append(pesq_wb(wav, y))
            scores["stoi"].append(stoi(wav, y))
            scores["mel_distance"].append(mel_distance(wav, y))
        out[f"levels_{q}"] = {k: float(np.mean(v)) for k, v in scores.items()} | {"levels": q, "name": name}
    codec = model.codec
    if getattr(getattr(codec, "config", None), "synthesis", None) == "griffin_lim":
        # the ceiling of this synthesis: Griffin-Lim from the *true* magnitudes, no quantization
        from ..codec.spectral import griffin_lim
        scores = {"pesq_wb": [], "stoi": []}
        for wav in waves:
            x = torch.from_numpy(wav)[None]
            y = griffin_lim(codec.gl_stft(codec._pad(x)).abs(), codec.gl_stft, codec.config.gl_iterations)
            y = y[0].numpy()[: len(wav)]
            scores["pesq_wb"].append(pesq_wb(wav, y))
            scores["stoi"].append(stoi(wav, y))
        out["griffin_lim_ceiling"] = {k: float(np.mean(v)) for k, v in scores.items()}
    return out


def semantic_ids(tokenizer, wav: np.ndarray) -> np.ndarray:
    return tokenizer.tokenize(torch.from_numpy(wav)[None])[0].numpy()


def agreement(ids: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of frames (over the shorter sequence) where the ids equal the reference's."""
    n = min(len(ids), len(reference))
    return float((ids[:n] == reference[:n]).mean())


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


def evaluate_speech(model: AudioLM, corpus, config: SpeechEvalConfig = SpeechEvalConfig()) -> dict:
    sr = model.config.sample_rate
    enroll, test = _split(corpus)
    speakers = sorted(test)
    audio = lambda r: corpus.audio(r)  # noqa: E731
    results: dict = {"config": asdict(config), "heldout_speakers": len(speakers)}

    # Generated audio always passes through the codec: with classifier_on_resynthesis the
    # classifier learns voices in that domain (codec round trips of the enrollment half).
    enroll_audio = [audio(r) for s in speakers for r in enroll[s]]
    if config.classifier_on_resynthesis:
        enroll_audio = [resynthesize(model, w) for w in tqdm(enroll_audio, desc="enrollment round trips", leave=False)]
    classifier = SpeakerClassifier(sr).fit(enroll_audio, [s for s in speakers for _ in enroll[s]])
    real = [(audio(r), s) for s in speakers for r in test[s][:config.prompts]]
    results["speaker_classifier_on_real"] = classifier.accuracy([w for w, _ in real], [s for _, s in real])
    results["speaker_classifier_on_resynthesis"] = classifier.accuracy([resynthesize(model, w) for w, _ in real],
                                                                       [s for _, s in real])
    results["speaker_classifier_trained_on"] = "codec round trips" if config.classifier_on_resynthesis else "real audio"

    codec_waves = [audio(r) for s in speakers for r in test[s][:config.codec_utterances]]
    results["codec"] = codec_metrics(model, codec_waves)
    results["semantic_tokens"] = semantic_metrics(model.semantic_tokenizer, corpus, enroll, test)

    # continuation: 3 s prompts, does the continuation keep the prompt's voice?
    hits, generated = [], []
    prompt_len = int(config.prompt_seconds * sr)
    for i, (wav, speaker) in enumerate(tqdm(real, desc="continuation", leave=False)):
        out = model.continuation(wav[:prompt_len], config.continuation_seconds, seed=config.seed + i)
        new = out.audio[0, out.prompt_samples:]
        generated.append(new)
        hits.append(classifier.predict([new])[0] == speaker)
    results["continuation"] = {"speaker_id_accuracy": float(np.mean(hits)), "prompts": len(hits),
                               "prompt_seconds": config.prompt_seconds, "seconds": config.continuation_seconds}

    # acoustic generation: content kept (re-tokenized semantic ids), voice new / from the voice prompt
    agree, chance, same_voice, prompt_voice, agree_prompted, agree_codec = [], [], [], [], [], []
    max_len = int(config.acoustic_max_seconds * sr)
    jobs = [(s, r) for s in speakers for r in test[s][config.prompts:config.prompts + config.acoustic_inputs]]
    for i, (speaker, record) in enumerate(tqdm(jobs, desc="acoustic generation", leave=False)):
        wav = model._aligned(audio(record)[:max_len])
        tokenizer = model.semantic_tokenizer
        source_ids = semantic_ids(tokenizer, wav)
        agree_codec.append(agreement(semantic_ids(tokenizer, resynthesize(model, wav)), source_ids))
        out = model.acoustic_generation(wav, seed=config.seed + i)
        agree.append(agreement(semantic_ids(tokenizer, out.audio[0]), source_ids))
        chance.append(chance_agreement(source_ids))
        same_voice.append(classifier.predict([out.audio[0]])[0] == speaker)
        other = speakers[(speakers.index(speaker) + 1 + i % (len(speakers) - 1)) % len(speakers)]
        voice = audio(test[other][-1])[:prompt_len]
        out = model.acoustic_generation(wav, voice=voice, seed=config.seed + i)
        agree_prompted.append(agreement(semantic_ids(tokenizer, out.audio[0]), source_ids))
        prompt_voice.append(classifier.predict([out.audio[0]])[0] == other)
    results["acoustic_generation"] = {
        "semantic_agreement": float(np.mean(agree)), "semantic_agreement_chance": float(np.mean(chance)),
        "semantic_agreement_codec_round_trip": float(np.mean(agree_codec)),
        "semantic_agreement_with_voice_prompt": float(np.mean(agree_prompted)),
        "speaker_id_input_speaker_no_prompt": float(np.mean(same_voice)),
        "speaker_id_prompt_speaker_with_prompt": float(np.mean(prompt_voice)), "inputs": len(jobs)}

    results["unconditional"] = unconditional_metrics(model, [audio(test[s][-1]) for s in speakers], config)
    results["speed"] = continuation_rtf(model, real[0][0][:int(config.rtf_prompt_seconds * sr)])
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
    reference = [semantic_ids(model.semantic_tokenizer, model._aligned(wav)) for wav in reference_audio]

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
