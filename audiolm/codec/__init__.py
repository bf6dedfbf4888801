"""Acoustic tokenizers (codecs): one interface, the project's own neural codec, and DAC."""
from pathlib import Path

from ..serialization import read_config
from .base import Codec
from .dac import DacCodec
from .neural import CodecOutput, NeuralCodec, NeuralCodecConfig
from .rvq import ResidualVQ, RVQConfig


def load_codec(folder: str | Path) -> Codec:
    """Load whichever codec a bundle's ``codec/`` folder holds."""
    config = read_config(folder)
    if config.get("model_type") == "dac":
        return DacCodec.from_pretrained(folder)
    return NeuralCodec.from_folder(folder)


__all__ = ["Codec", "CodecOutput", "DacCodec", "NeuralCodec", "NeuralCodecConfig", "ResidualVQ", "RVQConfig",
           "load_codec"]
