"""The ten GTZAN genres as styles: tempo, meter, groove, drums, bass, harmony, instruments, production.

Ranges overlap on purpose, as real genres do: rock and metal share distortion and power
chords, disco and pop share four-on-the-floor, blues and jazz share swing, reggae and hip hop
share slow tempi, so no single statistic separates the genres.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GenreStyle", "STYLES", "GENRES"]


@dataclass(frozen=True)
class GenreStyle:
    """How one genre is composed and produced; every range is sampled per clip.

    Choices are tuples of options drawn uniformly; ranges are (low, high).
    """

    tempo: tuple[float, float]  # [BPM]
    meters: tuple[int, ...]  # beats per bar
    swing: tuple[float, float]  # onset of the off-beat as a fraction of the pair (0.5 straight, 0.67 triplet)
    swing_unit: float  # beats: 0.5 swings eighths, 0.25 sixteenths
    drums: tuple[str | None, ...]  # drum patterns (None: no drums)
    bass: tuple[str, ...]  # bass-line styles
    bass_patch: tuple[str, ...]
    comp: tuple[str, ...]  # comping styles
    comp_patch: tuple[str, ...]
    progressions: tuple[str, ...]
    scales: tuple[str, ...]  # melody scales
    lead_patch: tuple[str | None, ...]
    lead_rhythm: tuple[float, ...]  # note values (beats) the melody draws from
    pad_patch: tuple[str | None, ...]
    distortion: tuple[float, float]  # guitar drive, 0 clean .. 1 heavy
    reverb: tuple[float, float]  # wet mix
    compression: tuple[float, float]  # 0 none .. 1 heavy
    brightness: tuple[float, float]  # master low-pass cutoff [Hz]
    chord_bars: tuple[float, ...] = (1.0,)  # bars per chord


STYLES: dict[str, GenreStyle] = {
    "blues": GenreStyle(
        tempo=(62, 118), meters=(4,), swing=(0.62, 0.69), swing_unit=0.5,
        drums=("shuffle", "shuffle", None), bass=("boogie", "walking"), bass_patch=("ks_bass", "upright"),
        comp=("shuffle_comp", "strum"), comp_patch=("ks_guitar", "piano", "organ"),
        progressions=("12bar", "12bar_quick"), scales=("blues", "pent_minor"),
        lead_patch=("ks_guitar", "ks_guitar_drive", "organ", "brass"), lead_rhythm=(0.5, 0.5, 1.0, 1.5, 0.25),
        pad_patch=(None, None, "organ"), distortion=(0.0, 0.45), reverb=(0.1, 0.3), compression=(0.1, 0.5),
        brightness=(3500, 9000)),
    "classical": GenreStyle(
        tempo=(56, 132), meters=(4, 3, 3), swing=(0.5, 0.5), swing_unit=0.5,
        drums=(None,), bass=("sustain",), bass_patch=("strings_low",),
        comp=("arpeggio", "alberti", "sustain"), comp_patch=("piano", "strings", "harp"),
        progressions=("classical_cadence", "classical_circle", "classical_minor", "classical_pachelbel"),
        scales=("major", "harmonic_minor"), lead_patch=("strings", "flute", "piano"), lead_rhythm=(0.5, 1.0, 1.0, 2.0, 0.25),
        pad_patch=("strings", None), distortion=(0.0, 0.0), reverb=(0.3, 0.55), compression=(0.0, 0.15),
        brightness=(3000, 8000), chord_bars=(1.0, 0.5)),
    "country": GenreStyle(
        tempo=(84, 148), meters=(4, 4, 3), swing=(0.5, 0.58), swing_unit=0.5,
        drums=("train", "backbeat"), bass=("root_fifth",), bass_patch=("ks_bass", "upright"),
        comp=("strum",), comp_patch=("ks_guitar_bright", "ks_guitar"),
        progressions=("country_basic", "country_I_IV_I_V", "rock_open"), scales=("pent_major", "major"),
        lead_patch=("fiddle", "ks_guitar_bright", "steel"), lead_rhythm=(0.5, 0.25, 1.0, 0.5),
        pad_patch=(None, None, "organ"), distortion=(0.0, 0.15), reverb=(0.1, 0.3), compression=(0.2, 0.5),
        brightness=(5000, 10000)),
    "disco": GenreStyle(
        tempo=(108, 132), meters=(4,), swing=(0.5, 0.54), swing_unit=0.25,
        drums=("four_floor",), bass=("octave",), bass_patch=("ks_bass", "synth_bass"),
        comp=("chicken", "stab"), comp_patch=("ks_muted", "epiano", "brass"),
        progressions=("disco_minor_vamp", "disco_maj7", "I_V_vi_IV"), scales=("dorian", "minor", "major"),
        lead_patch=("strings", "brass", "saw_lead"), lead_rhythm=(0.5, 1.0, 0.25, 2.0),
        pad_patch=("strings", "pad"), distortion=(0.0, 0.1), reverb=(0.1, 0.3), compression=(0.4, 0.8),
        brightness=(6000, 10000)),
    "hiphop": GenreStyle(
        tempo=(78, 100), meters=(4,), swing=(0.54, 0.64), swing_unit=0.25,
        drums=("boom_bap", "boom_bap", "trap"), bass=("sub",), bass_patch=("sub", "sub", "synth_bass"),
        comp=("loop",), comp_patch=("epiano", "piano", "strings"),
        progressions=("hiphop_minor_loop", "hiphop_dark", "disco_minor_vamp"), scales=("minor", "dorian"),
        lead_patch=(None, None, "flute", "saw_lead"), lead_rhythm=(0.5, 1.0, 0.25),
        pad_patch=(None, "pad"), distortion=(0.0, 0.1), reverb=(0.05, 0.2), compression=(0.5, 0.9),
        brightness=(2500, 7000), chord_bars=(1.0, 2.0)),
    "jazz": GenreStyle(
        tempo=(92, 220), meters=(4, 4, 3), swing=(0.6, 0.68), swing_unit=0.5,
        drums=("jazz_ride",), bass=("walking",), bass_patch=("upright",),
        comp=("jazz_comp",), comp_patch=("piano", "epiano", "ks_guitar"),
        progressions=("ii_V_I", "I_vi_ii_V", "minor_ii_V_i", "iii_vi_ii_V"), scales=("dorian", "mixolydian", "major"),
        lead_patch=("brass", "sax", "piano", "ks_guitar"), lead_rhythm=(0.5, 0.5, 1.0, 0.25, 1.5),
        pad_patch=(None,), distortion=(0.0, 0.05), reverb=(0.12, 0.3), compression=(0.0, 0.3),
        brightness=(3500, 8500), chord_bars=(1.0, 0.5)),
    "metal": GenreStyle(
        tempo=(96, 210), meters=(4,), swing=(0.5, 0.5), swing_unit=0.5,
        drums=("double_kick", "double_kick", "backbeat"), bass=("follow",), bass_patch=("ks_bass", "synth_bass"),
        comp=("chug", "power"), comp_patch=("ks_guitar_drive",),
        progressions=("metal_aeolian", "metal_phrygian", "metal_pedal"), scales=("phrygian", "minor", "harmonic_minor"),
        lead_patch=("ks_guitar_drive", None), lead_rhythm=(0.25, 0.25, 0.5, 0.125),
        pad_patch=(None, None, "pad"), distortion=(0.6, 1.0), reverb=(0.05, 0.25), compression=(0.5, 0.9),
        brightness=(4500, 9500)),
    "pop": GenreStyle(
        tempo=(92, 128), meters=(4,), swing=(0.5, 0.55), swing_unit=0.25,
        drums=("four_floor", "backbeat", "backbeat"), bass=("root8",), bass_patch=("synth_bass", "ks_bass"),
        comp=("strum", "stab", "sustain"), comp_patch=("piano", "ks_guitar", "epiano"),
        progressions=("I_V_vi_IV", "vi_IV_I_V", "I_vi_IV_V"), scales=("pent_major", "major"),
        lead_patch=("saw_lead", "flute", "piano", "epiano"), lead_rhythm=(0.5, 1.0, 0.5, 0.25, 2.0),
        pad_patch=("pad", None), distortion=(0.0, 0.2), reverb=(0.1, 0.3), compression=(0.4, 0.8),
        brightness=(5500, 10500)),
    "reggae": GenreStyle(
        tempo=(64, 96), meters=(4,), swing=(0.5, 0.6), swing_unit=0.25,
        drums=("one_drop", "one_drop", "steppers"), bass=("reggae",), bass_patch=("synth_bass", "ks_bass", "sub"),
        comp=("skank",), comp_patch=("ks_muted", "organ", "piano"),
        progressions=("reggae_I_IV", "reggae_I_V", "reggae_minor", "I_vi_IV_V"), scales=("pent_major", "minor", "major"),
        lead_patch=("organ", "brass", None, "flute"), lead_rhythm=(0.5, 1.0, 0.5, 2.0),
        pad_patch=(None, "organ"), distortion=(0.0, 0.1), reverb=(0.15, 0.35), compression=(0.2, 0.6),
        brightness=(3000, 8000), chord_bars=(1.0, 2.0)),
    "rock": GenreStyle(
        tempo=(96, 152), meters=(4,), swing=(0.5, 0.53), swing_unit=0.5,
        drums=("backbeat",), bass=("root8",), bass_patch=("ks_bass", "synth_bass"),
        comp=("power", "strum", "chug"), comp_patch=("ks_guitar_drive", "ks_guitar"),
        progressions=("I_IV_V_IV", "I_bVII_IV_I", "rock_open", "I_V_vi_IV"), scales=("pent_minor", "mixolydian", "pent_major"),
        lead_patch=("ks_guitar_drive", "organ", None), lead_rhythm=(0.5, 0.25, 1.0, 0.5),
        pad_patch=(None, None, "organ"), distortion=(0.3, 0.85), reverb=(0.08, 0.25), compression=(0.3, 0.7),
        brightness=(4500, 9500)),
}

#: The ten GTZAN genres, in GTZAN's (alphabetical) order.
GENRES: tuple[str, ...] = tuple(sorted(STYLES))
