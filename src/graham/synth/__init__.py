"""The built-in synthetic genre corpus: a score layer (genre -> notes) and a numpy renderer
(notes -> audio), written as a GTZAN-shaped folder. Ships no audio, downloads nothing."""
from ..utils.lazy import lazy_attributes

_WHERE = {
    "GENRES": ".styles",
    "STYLES": ".styles",
    "GenreStyle": ".styles",
    "Note": ".score",
    "Production": ".score",
    "Score": ".score",
    "compose": ".score",
    "render": ".render",
    "SynthSpec": ".corpus",
    "generate_corpus": ".corpus",
    "synthesize_clip": ".corpus",
}

__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
