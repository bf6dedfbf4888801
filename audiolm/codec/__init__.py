"""Acoustic tokenizers (codecs): one interface, the project's own neural codec, and DAC."""
from pathlib import Path

from ..errors import BundleError
from ..serialization import read_config
from .base import Codec
from .dac import DacCodec
from .neural import CodecOutput, NeuralCodec, NeuralCodecConfig
from .rvq import ResidualVQ, RVQConfig


CODECS: dict[str, type[Codec]] = {cls.type_name: cls for cls in (NeuralCodec, DacCodec)}


def load_codec(folder: str | Path) -> Codec:
    """Load whichever codec a bundle's ``codec/`` folder holds: the ``type`` its ``save_pretrained`` wrote
    (``transformers`` checkpoints, which have none, by their ``model_type``)."""
    config = read_config(folder)
    kind = config.get("type", config.get("model_type", "neural"))
    if kind not in CODECS:
        raise BundleError(f"{folder}: unknown codec type {kind!r} (expected one of {', '.join(map(repr, CODECS))})")
    return CODECS[kind].from_folder(folder)


__all__ = ["CODECS", "Codec", "CodecOutput", "DacCodec", "NeuralCodec", "NeuralCodecConfig", "ResidualVQ", "RVQConfig",
           "load_codec"]
