"""Voice decoder training (``audiolm.codec.voice_decoder``): the codec frozen, its voice decoder learns to
reconstruct 2 s crops from their first levels and a reference of the same voice and recording condition.

The reference is what a prompt is at generation time: half the time the 3 s of the same utterance just before the
crop (or after it, where less comes before), half the time another utterance of the same session."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..codec import NeuralCodec
from ..codec.voice_decoder import VoiceDecoderConfig
from .loop import TrainConfig, Trainer, seeded

MIN_REFERENCE_SECONDS = 1.0


class SessionCrops:
    """Utterances grouped by session (one voice in one recording condition; a corpus without sessions: by
    speaker): random crops with a reference of the same session."""

    def __init__(self, sessions: list[list[np.ndarray]], sample_rate: int):
        self.sessions, self.sample_rate = [s for s in sessions if s], sample_rate
        if not self.sessions:
            raise ValueError("no utterances to train a voice decoder on")

    @classmethod
    def from_corpus(cls, corpus, split: str = "train") -> "SessionCrops":
        groups: dict = {}
        for record in corpus.split(split):
            groups.setdefault((record["speaker"], record.get("session")), []).append(record)
        sessions = [[corpus.audio(r) for r in records]
                    for records in tqdm(groups.values(), desc=f"loading {split} sessions", leave=False)]
        return cls(sessions, corpus.config.sample_rate)

    def batch(self, batch_size: int, length: int, reference_length: int,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(crops (B, length), references (B, reference_length))``. Crops of utterances shorter than ``length``
        are zero-padded; references shorter than ``reference_length`` repeat to fill it."""
        draw = lambda n: int(torch.randint(0, max(1, n), (1,), generator=generator))  # noqa: E731
        shortest = round(MIN_REFERENCE_SECONDS * self.sample_rate)
        crops, references = [], []
        for _ in range(100 * batch_size):
            if len(crops) == batch_size:
                break
            session = self.sessions[draw(len(self.sessions))]
            wav = session[draw(len(session))]
            start = draw(len(wav) - length + 1)
            others = [w for w in session if w is not wav and len(w) >= shortest]
            if others and draw(2):
                other = others[draw(len(others))]
                offset = draw(len(other) - reference_length + 1)
                reference = other[offset:offset + reference_length]
            else:
                before, after = wav[:start], wav[start + length:]
                reference = before[-reference_length:] if len(before) >= len(after) else after[:reference_length]
            if len(reference) < shortest:
                continue
            crops.append(np.pad(wav[start:start + length], (0, max(0, length - len(wav)))))
            references.append(np.resize(reference, reference_length))
        if len(crops) < batch_size:
            raise ValueError(f"no references of {MIN_REFERENCE_SECONDS:g} s in the sessions: the voice decoder "
                             "needs utterances of at least a few seconds, or sessions of several")
        return torch.from_numpy(np.stack(crops)).float(), torch.from_numpy(np.stack(references)).float()


def train_voice_decoder(crops: SessionCrops, codec: NeuralCodec, config: VoiceDecoderConfig, run_dir: str | Path,
                        train: TrainConfig, segment_seconds: float = 2.0,
                        reference_seconds: float = 3.0) -> NeuralCodec:
    """``codec`` with a voice decoder trained on ``crops``, and only it learning: ``codec``'s own where it has one of
    this config, otherwise a new one that starts as a copy of the codec's decoder (its cross-attention adding
    nothing). The export is the whole codec."""
    with seeded(train.seed):
        voiced = NeuralCodec(replace(codec.config, voice_decoder=config))
    state = codec.state_dict()
    if codec.config.voice_decoder != config:  # a new voice decoder: it starts as the codec's decoder
        state = {k: v for k, v in state.items() if not k.startswith("voice_decoder.")}
        state.update({f"voice_decoder.base.{k}": v for k, v in codec.decoder.state_dict().items()})
    missing, _ = voiced.load_state_dict(state, strict=False)
    assert all(k.startswith("voice_decoder.") for k in missing), missing
    for name, parameter in voiced.named_parameters():
        parameter.requires_grad_(name.startswith("voice_decoder."))
    trainer = Trainer(voiced, run_dir, train, export=voiced.save_pretrained, description="voice decoder")
    sr = codec.sample_rate
    length = codec.num_frames(round(segment_seconds * sr)) * codec.hop_length
    reference_length = codec.num_frames(round(reference_seconds * sr)) * codec.hop_length

    def step(_, generator):
        wav, reference = crops.batch(train.batch_size, length, reference_length, generator)
        losses, total = voiced.voice_losses(wav.to(trainer.device), reference.to(trainer.device))
        return total, {k: v.item() for k, v in losses.items()}

    trainer.run(step)
    return voiced
