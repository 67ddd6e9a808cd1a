"""Audio: decoding (soundfile + soxr), fixed-length windows and the log-mel front end."""
# Names resolve on first use (PEP 562): importing one light submodule (a reader, the decoder)
# does not load torch through this package's other modules.
from importlib import import_module as _import_module

_WHERE = {
    "AUDIO_EXTENSIONS": ".decode",
    "AudioInfo": ".decode",
    "audio_info": ".decode",
    "load_audio": ".decode",
    "resample": ".decode",
    "to_mono": ".decode",
    "LogMel": ".mel",
    "MelConfig": ".mel",
    "mel_filterbank": ".mel",
    "power_to_db": ".mel",
    "fit_length": ".windows",
    "sliding_windows": ".windows",
    "window_starts": ".windows",
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
