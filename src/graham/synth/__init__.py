"""The built-in synthetic genre corpus: a score layer (genre -> notes) and a numpy renderer
(notes -> audio), written as a GTZAN-shaped folder. Ships no audio, downloads nothing."""
# Names resolve on first use (PEP 562): importing one light submodule (the corpus's settings)
# does not load scipy's signal module through this package's other modules.
from importlib import import_module as _import_module

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


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(_import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
