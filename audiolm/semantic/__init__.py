"""Semantic tokenizers: a speech encoder's features at one layer, quantized by k-means."""
from .base import SpeechEncoder
from .builtin import BuiltinEncoderConfig, BuiltinSpeechEncoder
from .hf import HFSpeechEncoder
from .tokenizer import SemanticTokenizer, SemanticTokenizerConfig

__all__ = ["BuiltinEncoderConfig", "BuiltinSpeechEncoder", "HFSpeechEncoder", "SemanticTokenizer",
           "SemanticTokenizerConfig", "SpeechEncoder"]
