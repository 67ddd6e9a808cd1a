"""Decode audio files into mono float32 samples at a fixed rate (soundfile + soxr).

Every failure becomes one :class:`~graham.errors.AudioError` that names the file and the
reason, so callers that walk a corpus can report the file and carry on.

Documented behaviour for awkward inputs
---------------------------------------
- empty file (0 bytes), non-audio bytes, unsupported container: ``AudioError``.
- truncated file: libsndfile decodes the frames that are present; if it cannot, ``AudioError``.
- zero-length audio (a valid header with no frames): ``AudioError``.
- NaN or infinite samples (float WAV/AIFF): ``AudioError``; such a file is corrupt, and a
  silent repair would hide that.
- MP3 with damaged frames: what libmpg123 prints is caught (never raw on stderr); a file it
  gives up on fails with the decoder's reason, one it reads past damage is logged as a warning.
- all-silent audio: returned as it is (zeros are valid music data); its log-mel is the
  constant floor ``10 log10(amin)``.
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ..errors import AudioError, ParameterError
from .native_stderr import capture_native_stderr

__all__ = ["AUDIO_EXTENSIONS", "AudioInfo", "audio_info", "header_problem", "load_audio", "to_mono", "resample"]

log = logging.getLogger(__name__)

#: File name extensions graham looks for when it walks a folder (everything libsndfile reads).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".au", ".snd", ".aiff", ".aif", ".aifc")


#: Suffixes whose decoder (libmpg123) prints to stderr; unknown suffixes are treated alike.
_MPEG_SUFFIXES = (".mp3", ".mp2", ".mpga", ".mpeg")


def _decoder_output(path: Path):
    """A capture of the C decoder's stderr for MPEG files (see :mod:`.native_stderr`); others
    are read without one, so that they decode in parallel."""
    suffix = path.suffix.lower()
    if suffix in _MPEG_SUFFIXES or suffix not in AUDIO_EXTENSIONS:
        return capture_native_stderr()
    return nullcontext([])


def _decoder_reason(lines: list[str]) -> str:
    """The decoder's last complaint, without libmpg123's source-location prefix."""
    return re.sub(r"^(\[[^\]]*\]\s*)?(error|Error|Note|Warning):\s*", "", lines[-1]).strip() if lines else ""


def _with_decoder(reason: str, lines: list[str]) -> str:
    said = _decoder_reason(lines)
    if not said:
        return reason
    return f"damaged MPEG stream: {said}" if reason.startswith("Unspecified internal error") else f"{reason}; decoder: {said}"


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says: native rate [Hz], channels, frames and duration [s]."""

    sample_rate: int
    channels: int
    frames: int
    duration: float
    format: str


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise AudioError(path, "no such file")
    if not path.is_file():
        raise AudioError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read the header of ``path`` without decoding the samples."""
    path = Path(path)
    _check_readable(path)
    error: Exception | None = None
    with _decoder_output(path) as notes:
        try:
            info = sf.info(str(path))
        except Exception as exc:  # libsndfile raises several types (LibsndfileError, RuntimeError, TypeError)
            error = exc
        else:
            error = None
    if error is not None:
        raise AudioError(path, f"not decodable audio ({_with_decoder(_reason(error), notes)})") from error
    for line in notes:
        log.debug("%s: decoder: %s", path, line)
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), float(info.duration), str(info.format))


def header_problem(path: str | os.PathLike) -> str | None:
    """Why ``path``'s header cannot be read (``None`` when it can): a cheap check used by the
    corpus readers to list unreadable files by name without decoding every clip."""
    try:
        audio_info(path)
    except AudioError as exc:
        return exc.reason
    return None


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    # soundfile prefixes the message with the path; the path is already in AudioError.
    text = text.split(": ", 1)[-1] if text.startswith("Error opening") else text
    # libsndfile says this of a readable file whose format it does not recognise (random
    # bytes, a text file): the file does exist, so say what is really wrong.
    if "does not exist or is not a regular file" in text:
        return "format not recognised (not a file libsndfile can read)"
    return text


def to_mono(y: np.ndarray) -> np.ndarray:
    """Down-mix ``y`` [shape=(frames, channels) or (frames,)] to mono by averaging channels."""
    if y.ndim == 1:
        return y
    if y.shape[1] == 1:
        return y[:, 0]
    return y.mean(axis=1, dtype=np.float32)


def resample(y: np.ndarray, orig_sr: int, target_sr: int, *, quality: str = "HQ") -> np.ndarray:
    """Resample mono ``y`` from ``orig_sr`` to ``target_sr`` [Hz] with soxr; a no-op when equal."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ParameterError(f"sample rates must be > 0, got {orig_sr} and {target_sr}")
    if orig_sr == target_sr:
        return y
    return soxr.resample(y, orig_sr, target_sr, quality=quality).astype(np.float32, copy=False)


def decoder_step(path: Path, step):
    """``step()``, a libsndfile call on ``path``, with the C decoder's stderr caught: its
    failure becomes an :class:`AudioError` naming the file and the decoder's reason, and damage
    the decoder read past is logged as a warning. Whole-file and block-wise reading share it."""
    error: Exception | None = None
    with _decoder_output(path) as notes:
        try:
            out = step()
        except Exception as exc:  # libsndfile raises several types (LibsndfileError, RuntimeError, TypeError)
            error = exc
    if error is not None:
        raise AudioError(path, f"not decodable audio ({_with_decoder(_reason(error), notes)})") from error
    damaged = [line for line in notes if re.search(r"Illegal|Skipped|error", line)]
    if damaged:
        log.warning("%s: decoded past damaged data (decoder: %s)", path, _decoder_reason(damaged))
    for line in notes:
        log.debug("%s: decoder: %s", path, line)
    return out


def load_audio(
    path: str | os.PathLike,
    *,
    sr: int | None = 22050,
    offset: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode ``path`` to mono float32 samples at ``sr`` [Hz].

    Parameters
    ----------
    path : file in any format libsndfile reads (wav, flac, ogg/vorbis/opus, mp3, au/snd, aiff).
    sr : int > 0 [Hz], or None to keep the file's own rate.
    offset : float >= 0 [s], where to start reading.
    duration : float > 0 [s] or None, how much to read (None: to the end).

    Returns
    -------
    y : np.ndarray [shape=(samples,), dtype=float32]

    Raises
    ------
    AudioError : the file is missing, empty, not audio, holds no frames or non-finite samples.
    """
    if sr is not None and sr <= 0:
        raise ParameterError(f"sr must be > 0 or None, got {sr}")
    if offset < 0 or (duration is not None and duration <= 0):
        raise ParameterError(f"need offset >= 0 and duration > 0, got {offset}, {duration}")
    path = Path(path)
    _check_readable(path)

    def read():
        with sf.SoundFile(str(path)) as f:
            native_sr = int(f.samplerate)
            start = int(round(offset * native_sr))
            if start:
                f.seek(min(start, f.frames) if f.frames > 0 else 0)
            frames = -1 if duration is None else int(round(duration * native_sr))
            return native_sr, f.read(frames=frames, dtype="float32", always_2d=True)

    native_sr, data = decoder_step(path, read)
    if data.shape[0] == 0:
        raise AudioError(path, "zero-length audio (no samples" + (" after the offset)" if offset else ")"))
    if not np.isfinite(data).all():
        raise AudioError(path, "contains NaN or infinite samples")
    y = to_mono(data)
    if sr is not None:
        y = resample(y, native_sr, sr)
    return np.ascontiguousarray(y, dtype=np.float32)
