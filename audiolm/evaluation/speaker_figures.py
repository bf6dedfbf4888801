"""Whose voice comes out? Continuation and acoustic generation on one set of held-out voices,
judged twice: by the MFCC speaker classifier (trained here, on the enrollment half) and by speaker
similarity from an independent pretrained encoder (resemblyzer), against centroids built from
enrollment utterances that are never used as prompts or inputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .metrics import chance_agreement, copied_ngrams
from .round_trips import agreement, resynthesize, semantic_ids
from .similarity import SpeakerSimilarity
from .speaker import SpeakerClassifier
from .voices import VoiceSet, long_enough


@dataclass
class Judges:
    embedder: object | None = None  # SpeakerEmbedder, or None when resemblyzer is missing
    embedder_skipped: str | None = None
    mos: object | None = None  # MOSPredictor, or None
    mos_skipped: str | None = None


def copied_from_prompt(model, result, n: int = 4) -> tuple[float, int]:
    """How much of a continuation replays its prompt: ``copied_ngrams`` of the semantic ids after the prompt against
    the prompt's own, and the prompt's semantic frames."""
    known = round(result.prompt_samples * model.config.semantic_rate / model.config.sample_rate)
    return copied_ngrams(result.semantic_ids[0, :known], result.semantic_ids[0, known:], n), known


def _inputs(test: list, prompts: int, count: int) -> list:
    rest = test[prompts:]
    return (rest if len(rest) >= count else rest + test[:prompts])[:count]


def voice_figures(model, voices: VoiceSet, config, judges: Judges) -> dict:
    """Reference rows, continuation and acoustic generation (with and without a voice prompt) on
    ``voices``; ``config`` is the speech eval config (prompts, seconds, seed)."""
    sr = model.config.sample_rate
    speakers = voices.speakers
    prompt_len = int(config.prompt_seconds * sr)
    out: dict = {"voices": voices.name, "speakers": len(speakers)}

    # the MFCC classifier learns voices from the enrollment half (codec round trips by default:
    # generated audio always passes through the codec)
    enroll = {s: voices.enroll[s][:config.enroll_utterances] for s in speakers}
    enroll_audio = [w for s in speakers for w in enroll[s]]
    if config.classifier_on_resynthesis:
        enroll_audio = [resynthesize(model, w) for w in tqdm(enroll_audio, desc=f"{voices.name}: enrollment round trips",
                                                             leave=False)]
    classifier = SpeakerClassifier(sr).fit(enroll_audio, [s for s in speakers for _ in enroll[s]])
    prompts = [(w, s) for s in speakers for w in long_enough(voices.test[s], config.prompt_seconds, sr)[:config.prompts]]
    round_trips = [resynthesize(model, w) for w, _ in prompts]
    out["speaker_classifier_on_real"] = classifier.accuracy([w for w, _ in prompts], [s for _, s in prompts])
    out["speaker_classifier_on_resynthesis"] = classifier.accuracy(round_trips, [s for _, s in prompts])
    out["speaker_classifier_trained_on"] = "codec round trips" if config.classifier_on_resynthesis else "real audio"

    sim = SpeakerSimilarity(judges.embedder, enroll)
    for (wav, speaker), trip in zip(prompts, round_trips):  # what "same voice" and "other voice" look like
        sim.add(wav, {"sim_same_speaker": speaker}, {"nearest_is_own": speaker}, ("sim_other_speakers", speaker))
        sim.add(trip, {"round_trip_sim_same_speaker": speaker}, {"round_trip_nearest_is_own": speaker})
    out["reference"] = sim.figures("sim_same_speaker", "sim_other_speakers", "nearest_is_own",
                                   "round_trip_sim_same_speaker", "round_trip_nearest_is_own")
    tokenizer = model.semantic_tokenizer
    mos = {"reference": [], "continuation": [], "acoustic_generation": [], "acoustic_generation_with_voice_prompt": []}

    # continuation: 3 s prompts; does the continuation keep the prompt's voice?
    # and how much of its content replays the prompt: its semantic ids' 4-grams found in the prompt's, beside the
    # same share for the real next seconds where the utterance has them
    hits, copied, copied_real = [], [], []
    for i, (wav, speaker) in enumerate(tqdm(prompts, desc=f"{voices.name}: continuation", leave=False)):
        result = model.continuation(wav[:prompt_len], config.continuation_seconds, seed=config.seed + i)
        new = result.audio[0, result.prompt_samples:]
        share, known = copied_from_prompt(model, result)
        copied.append(share)
        whole = result.prompt_samples + int(config.continuation_seconds * sr)
        if len(wav) >= whole:
            real_ids = semantic_ids(tokenizer, model.aligned(wav[:whole]))
            copied_real.append(copied_ngrams(real_ids[:known], real_ids[known:]))
        hits.append(classifier.predict([new])[0] == speaker)
        sim.add(new, {"sim_continuation": speaker}, {"nearest_is_prompt_speaker": speaker})
        mos["reference"].append(wav)
        mos["continuation"].append(new)
    out["continuation"] = {"speaker_id_accuracy": float(np.mean(hits)), "prompts": len(hits),
                           "prompt_seconds": config.prompt_seconds, "seconds": config.continuation_seconds,
                           "copied_4grams": float(np.mean(copied)),
                           "real_next_copied_4grams": float(np.mean(copied_real)) if copied_real else None,
                           "real_next_prompts": len(copied_real),
                           **sim.figures("sim_continuation", "nearest_is_prompt_speaker")}

    # acoustic generation: content kept (re-tokenized semantic ids), voice new / from a voice prompt
    agree, chance, same_voice, prompt_voice, agree_prompted, agree_codec = [], [], [], [], [], []
    max_len = int(config.acoustic_max_seconds * sr)
    # inputs: the test utterances after the prompts, then the prompts' own when a reader has too few
    jobs = [(s, w) for s in speakers for w in _inputs(voices.test[s], config.prompts, config.acoustic_inputs)]
    for i, (speaker, source) in enumerate(tqdm(jobs, desc=f"{voices.name}: acoustic generation", leave=False)):
        wav = model.aligned(source[:max_len])
        source_ids = semantic_ids(tokenizer, wav)
        agree_codec.append(agreement(semantic_ids(tokenizer, resynthesize(model, wav)), source_ids))
        generated = model.acoustic_generation(wav, seed=config.seed + i).audio[0]
        agree.append(agreement(semantic_ids(tokenizer, generated), source_ids))
        chance.append(chance_agreement(source_ids))
        same_voice.append(classifier.predict([generated])[0] == speaker)
        sim.add(generated, {"sim_input_speaker_no_prompt": speaker}, {"nearest_is_input_speaker_no_prompt": speaker})
        mos["acoustic_generation"].append(generated)

        other = speakers[(speakers.index(speaker) + 1 + i % (len(speakers) - 1)) % len(speakers)]
        voice = (long_enough(voices.test[other], config.prompt_seconds, sr) or voices.test[other])[-1][:prompt_len]
        prompted = model.acoustic_generation(wav, voice=voice, seed=config.seed + i).audio[0]
        agree_prompted.append(agreement(semantic_ids(tokenizer, prompted), source_ids))
        prompt_voice.append(classifier.predict([prompted])[0] == other)
        sim.add(prompted, {"sim_prompt_speaker_with_prompt": other, "sim_content_speaker_with_prompt": speaker},
                {"nearest_is_prompt_speaker_with_prompt": other, "nearest_is_content_speaker_with_prompt": speaker})
        mos["acoustic_generation_with_voice_prompt"].append(prompted)
    out["acoustic_generation"] = {
        "semantic_agreement": float(np.mean(agree)), "semantic_agreement_chance": float(np.mean(chance)),
        "semantic_agreement_codec_round_trip": float(np.mean(agree_codec)),
        "semantic_agreement_with_voice_prompt": float(np.mean(agree_prompted)),
        "speaker_id_input_speaker_no_prompt": float(np.mean(same_voice)),
        "speaker_id_prompt_speaker_with_prompt": float(np.mean(prompt_voice)), "inputs": len(jobs),
        **sim.figures("sim_input_speaker_no_prompt", "nearest_is_input_speaker_no_prompt",
                      "sim_prompt_speaker_with_prompt", "sim_content_speaker_with_prompt",
                      "nearest_is_prompt_speaker_with_prompt", "nearest_is_content_speaker_with_prompt")}
    out["similarity_judge"] = "resemblyzer GE2E" if judges.embedder else judges.embedder_skipped
    if judges.mos:
        out["mos"] = {k: judges.mos.mean(v) if v else None for k, v in mos.items()}
    else:
        out["mos"] = {"skipped": judges.mos_skipped}
    return out
