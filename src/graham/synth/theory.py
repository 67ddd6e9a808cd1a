"""Just enough music theory for the synthetic corpus: chord qualities, scales, progressions."""

from __future__ import annotations

__all__ = ["CHORDS", "SCALES", "PROGRESSIONS", "chord_pitches"]

#: Chord quality -> semitones above the root.
CHORDS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "5": (0, 7, 12), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10), "m7b5": (0, 3, 6, 10), "dim": (0, 3, 6), "9": (0, 4, 10, 14),
    "min9": (0, 3, 10, 14), "maj9": (0, 4, 11, 14), "6": (0, 4, 7, 9), "sus4": (0, 5, 7),
}

#: Scale name -> semitones of its degrees above the tonic.
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10), "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "pent_major": (0, 2, 4, 7, 9), "pent_minor": (0, 3, 5, 7, 10), "blues": (0, 3, 5, 6, 7, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
}

#: Named progressions: (root offset from the tonic in semitones, chord quality) per bar.
PROGRESSIONS: dict[str, tuple[tuple[int, str], ...]] = {
    "12bar": ((0, "7"),) * 4 + ((5, "7"),) * 2 + ((0, "7"),) * 2 + ((7, "7"), (5, "7"), (0, "7"), (7, "7")),
    "12bar_quick": ((0, "7"), (5, "7"), (0, "7"), (0, "7"), (5, "7"), (5, "7"), (0, "7"), (0, "7"),
                    (7, "7"), (5, "7"), (0, "7"), (7, "7")),
    "ii_V_I": ((2, "min7"), (7, "7"), (0, "maj7"), (0, "maj7")),
    "I_vi_ii_V": ((0, "maj7"), (9, "min7"), (2, "min7"), (7, "7")),
    "minor_ii_V_i": ((2, "m7b5"), (7, "7"), (0, "min7"), (0, "min7")),
    "iii_vi_ii_V": ((4, "min7"), (9, "7"), (2, "min9"), (7, "9")),
    "I_V_vi_IV": ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),
    "vi_IV_I_V": ((9, "min"), (5, "maj"), (0, "maj"), (7, "maj")),
    "I_vi_IV_V": ((0, "maj"), (9, "min"), (5, "maj"), (7, "maj")),
    "I_IV_V_IV": ((0, "5"), (5, "5"), (7, "5"), (5, "5")),
    "I_bVII_IV_I": ((0, "5"), (10, "5"), (5, "5"), (0, "5")),
    "rock_open": ((0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")),
    "metal_aeolian": ((0, "5"), (8, "5"), (10, "5"), (0, "5")),
    "metal_phrygian": ((0, "5"), (1, "5"), (0, "5"), (3, "5")),
    "metal_pedal": ((0, "5"), (0, "5"), (3, "5"), (5, "5")),
    "classical_cadence": ((0, "maj"), (5, "maj"), (7, "7"), (0, "maj")),
    "classical_circle": ((0, "maj"), (9, "min"), (2, "min"), (7, "7")),
    "classical_minor": ((0, "min"), (5, "min"), (7, "7"), (0, "min")),
    "classical_pachelbel": ((0, "maj"), (7, "maj"), (9, "min"), (4, "min"), (5, "maj"), (0, "maj"), (5, "maj"), (7, "maj")),
    "country_basic": ((0, "maj"), (0, "maj"), (5, "maj"), (5, "maj"), (7, "maj"), (7, "maj"), (0, "maj"), (0, "maj")),
    "country_I_IV_I_V": ((0, "maj"), (5, "maj"), (0, "maj"), (7, "7")),
    "disco_minor_vamp": ((0, "min7"), (5, "min7"), (0, "min7"), (5, "min7")),
    "disco_maj7": ((0, "maj7"), (9, "min7"), (2, "min7"), (7, "9")),
    "hiphop_minor_loop": ((0, "min7"), (8, "maj7"), (0, "min7"), (8, "maj7")),
    "hiphop_dark": ((0, "min9"), (5, "min7"), (3, "maj7"), (7, "min7")),
    "reggae_I_IV": ((0, "maj"), (5, "maj"), (0, "maj"), (5, "maj")),
    "reggae_I_V": ((0, "maj"), (7, "maj"), (0, "maj"), (7, "maj")),
    "reggae_minor": ((0, "min"), (5, "min"), (0, "min"), (5, "min")),
}


def chord_pitches(root: int, quality: str, *, low: int, inversion: int = 0) -> list[int]:
    """MIDI pitches of a chord whose root pitch class is ``root``, voiced at or above ``low``."""
    base = low + ((root - low) % 12)
    notes = [base + i for i in CHORDS[quality]]
    for _ in range(inversion % len(notes)):
        notes = notes[1:] + [notes[0] + 12]
    return notes
