"""Task models built from rnnkit's recurrent layers."""

from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.recurrent import make_recurrent

__all__ = ["LanguageModel", "LanguageModelConfig", "make_recurrent"]
