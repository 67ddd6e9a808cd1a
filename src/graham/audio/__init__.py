"""Audio: decoding (soundfile + soxr), fixed-length windows and the log-mel front end."""

from .decode import AUDIO_EXTENSIONS, AudioInfo, audio_info, load_audio, resample, to_mono
from .mel import LogMel, MelConfig, mel_filterbank, power_to_db
from .windows import fit_length, sliding_windows, window_starts

__all__ = [
    "AUDIO_EXTENSIONS", "AudioInfo", "audio_info", "load_audio", "resample", "to_mono",
    "LogMel", "MelConfig", "mel_filterbank", "power_to_db",
    "fit_length", "sliding_windows", "window_starts",
]
