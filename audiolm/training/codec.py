"""Codec training: random 1 s crops, multi-resolution spectral losses + the quantizer's losses."""
from __future__ import annotations

from pathlib import Path

from ..codec import NeuralCodec, NeuralCodecConfig
from .data import AudioCrops
from .loop import TrainConfig, Trainer, seeded


def train_codec(crops: AudioCrops, run_dir: str | Path, codec_config: NeuralCodecConfig, train: TrainConfig,
                segment_seconds: float = 1.0, gain_db: float = 12.0) -> NeuralCodec:
    with seeded(train.seed):  # the codebooks' data init draws from the global generator
        codec = NeuralCodec(codec_config)
        trainer = Trainer(codec, run_dir, train, export=codec.save_pretrained, description="codec")
        length = round(segment_seconds * codec_config.sample_rate)

        def step(_, generator):
            wav = crops.batch(train.batch_size, length, generator, gain_db).to(trainer.device)
            out = codec(wav)
            return out.loss, {k: v.item() for k, v in out.losses.items()}

        trainer.run(step)
    return codec
