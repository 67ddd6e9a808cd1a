"""Audio: decoding (soundfile + soxr), fixed-length windows and the log-mel front end."""
from ..utils.lazy import lazy_attributes

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
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
