"""The built-in synthetic genre corpus: a score layer (genre -> notes) and a numpy renderer
(notes -> audio), written as a GTZAN-shaped folder. Ships no audio, downloads nothing."""

from .corpus import SynthSpec, generate_corpus, synthesize_clip
from .render import render
from .score import Note, Production, Score, compose
from .styles import GENRES, STYLES, GenreStyle

__all__ = ["GENRES", "STYLES", "GenreStyle", "Note", "Production", "Score", "compose", "render",
           "SynthSpec", "generate_corpus", "synthesize_clip"]
