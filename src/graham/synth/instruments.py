"""Instrument voices in numpy: each returns one note's mono waveform at velocity 1.

Karplus-Strong strings (guitars, bass, harp), additive and FM tones (piano, organ, electric
piano, brass, sax, flute), detuned saws through a low-pass (pads, strings), and a synthesised
drum kit. Voices are pure functions of their arguments and a ``rng``, so a renderer may cache
them per (patch, pitch, length).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from ..errors import ParameterError

__all__ = ["midi_to_hz", "PATCHES", "render_voice", "render_drum"]


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12.0)


def _onepole_lowpass(x: np.ndarray, cutoff: float, sr: int) -> np.ndarray:
    a = np.exp(-2 * np.pi * min(cutoff, sr * 0.45) / sr)
    return lfilter([1 - a], [1, -a], x)


def _envelope(n: int, sr: int, attack: float, release: float, decay: float | None = None) -> np.ndarray:
    """Attack ramp, optional exponential decay (time constant [s]), release ramp at the end."""
    t = np.arange(n) / sr
    env = np.minimum(1.0, t / max(attack, 1e-4))
    if decay is not None:
        env = env * np.exp(-t / decay)
    r = min(n, max(1, int(release * sr)))
    env[n - r:] *= np.linspace(1.0, 0.0, r)
    return env


def karplus_strong(f0: float, n: int, sr: int, rng: np.random.Generator, *, decay: float = 0.996,
                   brightness: float = 0.7) -> np.ndarray:
    """Plucked string: a noise burst circulating in a delay line of one period with a two-tap
    averaging (low-pass) loss filter. Computed one period at a time, vectorised."""
    period = max(2, int(round(sr / f0)))
    burst = rng.uniform(-1, 1, period)
    burst = _onepole_lowpass(burst, 1000 + 9000 * brightness, sr)
    burst -= burst.mean()
    blocks = -(-n // period)
    out = np.empty(blocks * period)
    prev, last = burst, 0.0
    out[:period] = prev
    for k in range(1, blocks):
        shifted = np.concatenate(([last], prev[:-1]))
        nxt = decay * 0.5 * (prev + shifted)
        last = prev[-1]
        out[k * period:(k + 1) * period] = nxt
        prev = nxt
    return out[:n] / (np.abs(burst).max() + 1e-9)


def _additive(f0: float, n: int, sr: int, amps, decays=None, *, vibrato: float = 0.0, inharm: float = 0.0) -> np.ndarray:
    t = np.arange(n) / sr
    phase_mod = vibrato * np.sin(2 * np.pi * 5.5 * t) if vibrato else 0.0
    out = np.zeros(n)
    for k, a in enumerate(amps, start=1):
        fk = f0 * k * np.sqrt(1 + inharm * k * k)
        if fk >= sr / 2:
            break
        partial = a * np.sin(2 * np.pi * fk * t + k * phase_mod)
        if decays is not None:
            partial *= np.exp(-t / decays[k - 1])
        out += partial
    return out


def _saws(f0: float, n: int, sr: int, rng: np.random.Generator, *, voices: int = 3, detune: float = 0.008,
          vibrato: float = 0.0) -> np.ndarray:
    t = np.arange(n) / sr
    out = np.zeros(n)
    for v in range(voices):
        f = f0 * (1 + detune * (v - (voices - 1) / 2))
        inst = f * (1 + vibrato * np.sin(2 * np.pi * 5.2 * t + rng.uniform(0, 6.28)))
        phase = np.cumsum(inst) / sr + rng.uniform()
        out += 2 * (phase % 1.0) - 1
    return out / voices


def render_voice(patch: str, pitch: int, seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One note of ``patch`` at MIDI ``pitch`` sounding for ``seconds`` (plus a short release)."""
    f0 = midi_to_hz(pitch)
    n = max(int((seconds + 0.06) * sr), 64)
    if patch.startswith("ks_") or patch in ("upright", "harp"):
        params = {"ks_guitar": (0.996, 0.6), "ks_guitar_bright": (0.997, 0.9), "ks_guitar_drive": (0.998, 0.7),
                  "ks_bass": (0.997, 0.35), "ks_muted": (0.95, 0.5), "upright": (0.993, 0.25), "harp": (0.998, 0.75)}[patch]
        y = karplus_strong(f0, n, sr, rng, decay=params[0], brightness=params[1])
        return y * _envelope(n, sr, 0.001, 0.04)
    if patch == "piano":
        amps = [1.0 / k ** 1.3 for k in range(1, 12)]
        decays = [1.6 / (1 + 0.5 * k) for k in range(1, 12)]
        y = _additive(f0, n, sr, amps, decays, inharm=0.0002)
        y[: int(0.004 * sr)] += rng.uniform(-0.3, 0.3, int(0.004 * sr))
        return y * _envelope(n, sr, 0.002, 0.05)
    if patch == "epiano":
        t = np.arange(n) / sr
        index = 2.0 * np.exp(-t / 0.3)
        y = np.sin(2 * np.pi * f0 * t + index * np.sin(2 * np.pi * f0 * t)) * np.exp(-t / 1.2)
        y += 0.15 * np.sin(2 * np.pi * 14 * f0 * t) * np.exp(-t / 0.05) if 14 * f0 < sr / 2 else 0
        return y * _envelope(n, sr, 0.002, 0.05)
    if patch == "organ":
        y = _additive(f0, n, sr, [0.8, 1.0, 0.6, 0.5, 0.0, 0.3, 0.0, 0.25], vibrato=0.002)
        y += 0.5 * _additive(f0 / 2, n, sr, [1.0])
        return y * _envelope(n, sr, 0.01, 0.04)
    if patch in ("brass", "sax"):
        t = np.arange(n) / sr
        k = np.arange(1, 16)
        partials = 1.0 / k if patch == "brass" else np.where(k % 2 == 1, 1.0 / k, 0.6 / k)
        y = np.zeros(n)
        bright = 1 - np.exp(-t / 0.06)
        for kk, a in zip(k, partials):
            if f0 * kk >= sr / 2:
                break
            y += a * bright ** (kk / 3) * np.sin(2 * np.pi * f0 * kk * t + 0.003 * kk * np.sin(2 * np.pi * 5 * t))
        return y * _envelope(n, sr, 0.03, 0.06)
    if patch == "flute":
        y = _additive(f0, n, sr, [1.0, 0.25, 0.1], vibrato=0.004)
        y += 0.05 * _onepole_lowpass(rng.uniform(-1, 1, n), 3000, sr)
        return y * _envelope(n, sr, 0.05, 0.08)
    if patch in ("fiddle", "steel"):
        y = _saws(f0, n, sr, rng, voices=1, vibrato=0.006 if patch == "fiddle" else 0.0)
        y = _onepole_lowpass(y, 2500 if patch == "fiddle" else 1800, sr)
        return y * _envelope(n, sr, 0.04 if patch == "fiddle" else 0.01, 0.08, None if patch == "fiddle" else 1.5)
    if patch in ("strings", "strings_low", "pad"):
        y = _saws(f0, n, sr, rng, voices=3, vibrato=0.004 if patch != "pad" else 0.0)
        y = _onepole_lowpass(_onepole_lowpass(y, 2200 if patch != "pad" else 1500, sr), 4000, sr)
        return y * _envelope(n, sr, 0.18 if patch != "pad" else 0.35, 0.2)
    if patch == "saw_lead":
        y = _onepole_lowpass(_saws(f0, n, sr, rng, voices=2, detune=0.006), 3500, sr)
        return y * _envelope(n, sr, 0.005, 0.05)
    if patch in ("sub", "synth_bass"):
        t = np.arange(n) / sr
        if patch == "sub":
            y = np.sin(2 * np.pi * f0 * t) + 0.2 * np.sin(4 * np.pi * f0 * t)
            return y * _envelope(n, sr, 0.005, 0.05, 0.9)
        y = _onepole_lowpass(_saws(f0, n, sr, rng, voices=1), 900, sr)
        return y * _envelope(n, sr, 0.003, 0.04, 0.5)
    raise ParameterError(f"unknown patch {patch!r}")


def render_drum(piece: str, sr: int, rng: np.random.Generator, *, tune: float = 1.0) -> np.ndarray:
    """One hit of a synthesised kit piece at velocity 1; ``tune`` scales its pitches."""
    def noise(sec):
        return rng.uniform(-1, 1, int(sec * sr))

    if piece == "kick":
        n = int(0.45 * sr)
        t = np.arange(n) / sr
        f = 48 * tune + 110 * np.exp(-t / 0.035)
        y = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.16)
        y[: int(0.003 * sr)] += 0.5 * noise(0.003)
        return y
    if piece in ("snare", "rim", "clap"):
        dur = {"snare": 0.3, "rim": 0.08, "clap": 0.25}[piece]
        n = int(dur * sr)
        t = np.arange(n) / sr
        nz = noise(dur)
        nz = nz - _onepole_lowpass(nz, 1200, sr)
        if piece == "clap":
            env = sum(np.exp(-np.maximum(t - d, 0) / 0.012) * (t >= d) for d in (0.0, 0.01, 0.022)) + np.exp(-t / 0.08)
            return 0.6 * nz * env
        tone = np.sin(2 * np.pi * (185 if piece == "snare" else 420) * tune * t) * np.exp(-t / 0.04)
        return (0.7 * tone + 0.6 * nz * np.exp(-t / (0.09 if piece == "snare" else 0.02)))
    if piece in ("hat", "hat_open", "ride", "crash"):
        dur = {"hat": 0.08, "hat_open": 0.35, "ride": 0.9, "crash": 1.6}[piece]
        n = int(dur * sr)
        t = np.arange(n) / sr
        nz = noise(dur)
        hp = nz - _onepole_lowpass(nz, 6000 if piece.startswith("hat") else 4000, sr)
        metal: float | np.ndarray = 0.0
        if piece == "ride":
            metal = 0.3 * sum(np.sin(2 * np.pi * f * tune * t) for f in (3210, 4457, 5340))
        tau = {"hat": 0.02, "hat_open": 0.12, "ride": 0.35, "crash": 0.6}[piece]
        return (0.5 * hp + metal) * np.exp(-t / tau)
    raise ParameterError(f"unknown drum piece {piece!r}")


#: Every melodic patch the score layer may name.
PATCHES = ("ks_guitar", "ks_guitar_bright", "ks_guitar_drive", "ks_bass", "ks_muted", "upright", "harp", "piano",
           "epiano", "organ", "brass", "sax", "flute", "fiddle", "steel", "strings", "strings_low", "pad", "saw_lead",
           "sub", "synth_bass")
