"""AudioLM: semantic and acoustic tokens modelled by three transformer stages.

``from audiolm import AudioLM`` loads a bundle; the submodules hold the building blocks.
"""
from .errors import AudioInputError, AudioLMError, BundleError
from .pipeline import AudioLM, GenerationResult, GenerationSettings
from .sampling import SamplingConfig

__all__ = ["AudioLM", "AudioInputError", "AudioLMError", "BundleError", "GenerationResult", "GenerationSettings",
           "SamplingConfig"]
