"""The score layer: a genre and a seed become note events, with nothing about sound in them.

A :class:`Score` holds the drawn tempo, meter, swing, key and production settings, and a list
of :class:`Note` events (tracks ``drums``, ``bass``, ``comp``, ``lead``, ``pad``). A renderer
(:mod:`graham.synth.render`) turns it into audio; the two are tested apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError
from .styles import STYLES, GenreStyle
from .theory import CHORDS, PROGRESSIONS, SCALES, chord_pitches

__all__ = ["Note", "Production", "Score", "compose", "DRUM_PIECES"]

DRUM_PIECES = ("kick", "snare", "rim", "clap", "hat", "hat_open", "ride", "crash")


@dataclass(frozen=True)
class Note:
    """One event: ``track`` and ``patch`` (instrument), MIDI ``pitch`` (0 for drums, whose
    ``patch`` is the kit piece), ``onset`` and ``duration`` [s], ``velocity`` in (0, 1]."""

    track: str
    patch: str
    pitch: int
    onset: float
    duration: float
    velocity: float


@dataclass(frozen=True)
class Production:
    """Mix and effects drawn per clip: per-track gain, guitar drive, reverb, compression,
    master low-pass [Hz], noise floor [dBFS] and loudness target [dBFS RMS]."""

    levels: dict[str, float]
    distortion: float
    reverb: float
    compression: float
    lowpass: float
    noise_db: float
    loudness_db: float


@dataclass
class Score:
    """A clip's composition. ``beat(b)`` maps a position in beats to seconds with the swing."""

    genre: str
    seconds: float
    tempo: float
    meter: int
    swing: float
    swing_unit: float
    key: int
    progression: str
    production: Production
    notes: list[Note] = field(default_factory=list)

    @property
    def beat_seconds(self) -> float:
        return 60.0 / self.tempo

    def beat(self, b: float) -> float:
        """Seconds at beat position ``b`` after applying the swing to off-beat subdivisions."""
        u = self.swing_unit
        pair = 2 * u
        k = np.floor(b / pair)
        r = b - k * pair
        on = pair * self.swing
        swung = np.where(r <= u, r / u * on, on + (r - u) / u * (pair - on))
        return float((k * pair + swung) * self.beat_seconds)

    def tracks(self) -> set[str]:
        return {n.track for n in self.notes}


class _Composer:
    """Writes one clip's notes; every random draw comes from ``rng`` in a fixed order."""

    def __init__(self, genre: str, seconds: float, rng: np.random.Generator, style: GenreStyle | None = None) -> None:
        self.rng = rng
        self.style: GenreStyle = style or STYLES[genre]
        s = self.style
        tempo = float(rng.uniform(*s.tempo))
        meter = int(rng.choice(s.meters))
        swing = float(rng.uniform(*s.swing))
        prog = str(rng.choice(s.progressions))
        production = Production(
            levels={"drums": float(rng.uniform(0.6, 1.0)), "bass": float(rng.uniform(0.5, 0.9)),
                    "comp": float(rng.uniform(0.4, 0.8)), "lead": float(rng.uniform(0.4, 0.8)),
                    "pad": float(rng.uniform(0.2, 0.45))},
            distortion=float(rng.uniform(*s.distortion)), reverb=float(rng.uniform(*s.reverb)),
            compression=float(rng.uniform(*s.compression)), lowpass=float(rng.uniform(*s.brightness)),
            noise_db=float(rng.uniform(-72, -48)), loudness_db=float(rng.uniform(-22, -14)),
        )
        self.score = Score(genre, seconds, tempo, meter, swing, s.swing_unit, int(rng.integers(0, 12)), prog, production)
        self.bars = int(np.ceil(seconds / (meter * 60.0 / tempo))) + 1
        self.chord_bars = float(rng.choice(s.chord_bars))

    # -- helpers ---------------------------------------------------------------------------
    def add(self, track: str, patch: str, pitch: int, beat: float, beats: float, vel: float, *, jitter: float = 0.008) -> None:
        sc = self.score
        onset = sc.beat(beat) + float(self.rng.normal(0.0, jitter))
        onset = max(onset, 0.0)
        if onset >= sc.seconds:
            return
        end = sc.beat(beat + beats)
        dur = max(end - onset, 0.03)
        vel = float(np.clip(vel * self.rng.uniform(0.85, 1.0), 0.05, 1.0))
        sc.notes.append(Note(track, patch, int(pitch), onset, dur, vel))

    def chords(self) -> list[tuple[float, float, int, str]]:
        """(start beat, length in beats, root pitch class, quality) over the whole clip."""
        prog = PROGRESSIONS[self.score.progression]
        meter, key = self.score.meter, self.score.key
        span = self.chord_bars * meter
        out, b, i = [], 0.0, 0
        while b < self.bars * meter:
            off, q = prog[i % len(prog)]
            out.append((b, span, (key + off) % 12, q))
            b += span
            i += 1
        return out

    # -- tracks ----------------------------------------------------------------------------
    def drums(self, pattern: str) -> None:
        rng, meter = self.rng, self.score.meter
        fill_every = int(rng.choice([4, 8]))
        for bar in range(self.bars):
            b0 = bar * meter
            hits = _DRUM_PATTERNS[pattern](meter, rng)
            if bar % fill_every == 0:
                hits.append(("crash", 0.0, 0.8))
            if bar % fill_every == fill_every - 1 and rng.random() < 0.6:
                hits = [h for h in hits if h[1] < meter - 1] + [
                    ("snare", meter - 1 + k * 0.25, 0.5 + 0.1 * k) for k in range(4)]
            for piece, pos, vel in hits:
                self.add("drums", piece, 0, b0 + pos, 0.25, vel, jitter=0.004)

    def bass(self, style: str, patch: str) -> None:
        rng = self.rng
        chords = self.chords()
        low = 28 if patch in ("sub", "synth_bass") else 31
        for ci, (b0, span, root, q) in enumerate(chords):
            r = low + ((root - low) % 12)
            nxt = low + ((chords[(ci + 1) % len(chords)][2] - low) % 12)
            ivs = CHORDS[q]
            if style == "walking":
                steps = int(span)
                tones = [r] + [r + ivs[int(rng.integers(1, len(ivs)))] % 12 + (12 if rng.random() < 0.3 else 0)
                               for _ in range(max(steps - 2, 0))]
                tones += [nxt + int(rng.choice([-1, 1, -2]))] if steps >= 2 else []
                for k, p in enumerate(tones[:steps]):
                    self.add("bass", patch, p, b0 + k, 1.0, 0.75)
            elif style == "boogie":
                figure = [0, 4 if 4 in ivs else 3, 7, 9, 10, 9, 7, 4 if 4 in ivs else 3]
                for k in range(int(span * 2)):
                    self.add("bass", patch, r + figure[k % 8], b0 + k * 0.5, 0.5, 0.7 if k % 2 else 0.85)
            elif style == "root_fifth":
                for k in range(int(span)):
                    self.add("bass", patch, r if k % 2 == 0 else r + 7 - 12 * (r + 7 > low + 14), b0 + k, 0.9, 0.8)
            elif style == "octave":
                for k in range(int(span * 2)):
                    self.add("bass", patch, r + (12 if k % 2 else 0), b0 + k * 0.5, 0.4, 0.85)
            elif style == "root8":
                for k in range(int(span * 2)):
                    self.add("bass", patch, r, b0 + k * 0.5, 0.45, 0.8 if k % 2 == 0 else 0.65)
            elif style == "follow":
                for k in range(int(span * 4)):
                    self.add("bass", patch, r, b0 + k * 0.25, 0.22, 0.8)
            elif style == "sub":
                for pos in sorted({0.0, float(rng.choice([1.5, 1.75, 2.0, 2.5])), float(rng.choice([2.5, 3.0, 3.25]))}):
                    if pos < span:
                        self.add("bass", patch, r, b0 + pos, min(1.0, span - pos), 0.9)
            elif style == "reggae":
                rfigure = [(0.5, 0), (1.0, 7), (1.5, 12 if rng.random() < 0.5 else 10), (2.5, 7), (3.0, ivs[1]), (3.5, 0)]
                for pos, iv in rfigure:
                    if pos < span:
                        self.add("bass", patch, r + iv, b0 + pos, 0.45, 0.85)
            elif style == "sustain":
                self.add("bass", patch, r, b0, span, 0.6)
            else:
                raise ParameterError(f"unknown bass style {style!r}")

    def comp(self, style: str, patch: str) -> None:
        rng = self.rng
        power = patch == "ks_guitar_drive"
        for b0, span, root, q in self.chords():
            q = "5" if power and style in ("power", "chug") else q
            low = 40 if style in ("power", "chug") else (48 if patch != "piano" else 52)
            pitches = chord_pitches(root, q, low=low, inversion=int(rng.integers(0, 3)) if not power else 0)
            if style in ("strum", "shuffle_comp"):
                self._strum(style, patch, sorted(set(pitches + [pitches[0] + 12])), b0, span)
            elif style == "power":
                for k in range(int(span)):
                    for p in pitches:
                        self.add("comp", patch, p, b0 + k, 1.0, 0.8)
            elif style == "chug":
                for k in range(int(span * 4)):
                    accent = k % 4 == 0 or rng.random() < 0.15
                    for p in (pitches if accent else pitches[:1]):
                        self.add("comp", "ks_muted" if not accent else patch, p, b0 + k * 0.25, 0.22 if not accent else 0.5,
                                 0.9 if accent else 0.7)
            elif style == "skank":
                top = chord_pitches(root, q, low=58)
                for k in range(int(span)):
                    for p in top:
                        self.add("comp", patch, p, b0 + k + 0.5, 0.22, 0.75)
            elif style == "chicken":
                for k in range(int(span * 4)):
                    if rng.random() < 0.7:
                        self.add("comp", patch, pitches[-1] + 12, b0 + k * 0.25, 0.12, 0.6 + 0.3 * (k % 2))
            elif style == "stab":
                for pos in (0.5, 1.5, 2.5, 3.5)[: int(span)]:
                    for p in pitches:
                        self.add("comp", patch, p + 12, b0 + pos, 0.3, 0.7)
            elif style == "jazz_comp":
                voicing = chord_pitches(root, q, low=52)[1:] + [chord_pitches(root, q, low=52)[0] + 12]
                for pos in sorted({float(rng.choice([0.0, 0.5, 1.5])), float(rng.choice([2.5, 3.0, 2.0]))}):
                    if pos < span:
                        for p in voicing:
                            self.add("comp", patch, p, b0 + pos, float(rng.choice([0.5, 1.0])), 0.5)
            elif style in ("arpeggio", "alberti"):
                seq = pitches + [pitches[0] + 12] if style == "arpeggio" else [pitches[0], pitches[-1], pitches[1], pitches[-1]]
                step = 0.5 if rng.random() < 0.6 else 0.25
                for k in range(int(span / step)):
                    self.add("comp", patch, seq[k % len(seq)], b0 + k * step, step * 1.8, 0.55)
            elif style in ("sustain", "loop"):
                for p in pitches:
                    self.add("comp", patch, p, b0, span if style == "sustain" else span * 0.75, 0.55)
                if style == "loop":
                    for p in pitches:
                        self.add("comp", patch, p, b0 + span * 0.75 + 0.5, 0.5, 0.45)
            else:
                raise ParameterError(f"unknown comping style {style!r}")

    #: A strummed bar: (beat, duration [beats], stroke: 1 down, -1 up).
    STRUM = ((0.0, 1.0, 1), (1.0, 0.5, 1), (1.5, 0.5, -1), (2.5, 0.5, -1), (3.0, 0.5, 1), (3.5, 0.5, -1))

    def _strum(self, style: str, patch: str, pitches: list[int], b0: float, span: float) -> None:
        """A chord strummed (``strum``) or shuffled (``shuffle_comp``) bar by bar, each stroke's
        strings 25 ms apart at 60 bpm."""
        meter = self.score.meter
        pat = list(self.STRUM) if style == "strum" else [(k * 1.0, 0.4, 1) for k in range(4)] + \
            [(k + 0.5, 0.3, 1) for k in range(4)]
        for bar_off in np.arange(0, span, meter):
            for pos, dur, direction in pat:
                if pos < min(meter, span - bar_off):
                    order = pitches if direction > 0 else pitches[::-1]
                    for si, p in enumerate(order):
                        self.add("comp", patch, p, b0 + bar_off + pos + si * 0.025 * self.score.tempo / 60,
                                 dur, 0.55 + 0.2 * (direction > 0), jitter=0.002)

    def lead(self, patch: str) -> None:
        rng, sc = self.rng, self.score
        scale = SCALES[str(rng.choice(self.style.scales))]
        pool = [sc.key + 60 + o + 12 * octv for octv in (-1, 0, 1) for o in scale]
        pool = [p for p in pool if 55 <= p <= 84]
        idx = len(pool) // 2
        rest_p = float(rng.uniform(0.15, 0.35))
        b, end = 0.0, self.bars * sc.meter
        # Melodies come in phrases that leave room: play 2 bars, rest 2 bars, at random.
        while b < end:
            if int(b // (2 * sc.meter)) % 2 == 1 and rng.random() < 0.7:
                b += sc.meter
                continue
            length = float(rng.choice(self.style.lead_rhythm))
            if rng.random() > rest_p:
                idx = int(np.clip(idx + rng.choice([-2, -1, -1, 1, 1, 2, 0, 3, -3]), 0, len(pool) - 1))
                self.add("lead", patch, pool[idx], b, length * 0.95, 0.7)
            b += length

    def pad(self, patch: str) -> None:
        for b0, span, root, q in self.chords():
            for p in chord_pitches(root, q, low=55):
                self.add("pad", patch, p, b0, span, 0.45, jitter=0.0)


def _backbeat(m, rng):
    hits = [("hat", k * 0.5, 0.6 if k % 2 else 0.8) for k in range(m * 2)]
    hits += [("kick", 0.0, 1.0), ("kick", 2.0 if m > 2 else 1.0, 0.9)] + ([("kick", 2.5, 0.7)] if rng.random() < 0.4 else [])
    hits += [("snare", float(b), 0.9) for b in range(1, m, 2)]
    return hits


def _shuffle(m, rng):
    piece = "ride" if rng.random() < 0.5 else "hat"
    hits = [(piece, k * 0.5, 0.75 if k % 2 == 0 else 0.5) for k in range(m * 2)]
    return hits + [("kick", 0.0, 0.9), ("kick", 2.0, 0.8), ("snare", 1.0, 0.85), ("snare", 3.0, 0.85)][: 2 + m // 2]


def _four_floor(m, rng):
    hits = [("kick", float(b), 1.0) for b in range(m)]
    hits += [("hat_open", b + 0.5, 0.7) for b in range(m)] + [("hat", k * 0.25, 0.35) for k in range(m * 4) if k % 2]
    hits += [("clap" if rng.random() < 0.5 else "snare", float(b), 0.85) for b in range(1, m, 2)]
    return hits


def _boom_bap(m, rng):
    hits = [("hat", k * 0.25, 0.55 if k % 2 == 0 else 0.3) for k in range(m * 4)]
    hits += [("kick", 0.0, 1.0), ("kick", float(rng.choice([0.75, 1.75])), 0.7), ("kick", 2.5, 0.9)]
    return hits + [("snare", 1.0, 1.0), ("snare", 3.0, 1.0)]


def _trap(m, rng):
    hits = [("hat", k * 0.125, 0.4) for k in range(m * 8) if rng.random() < 0.8]
    return hits + [("kick", 0.0, 1.0), ("kick", 1.75, 0.8), ("kick", 2.75, 0.8), ("clap", 2.0, 1.0)]


def _jazz_ride(m, rng):
    hits = [("ride", float(b), 0.7) for b in range(m)] + [("ride", b + 0.5, 0.5) for b in range(1, m, 2)]
    hits += [("hat", float(b), 0.4) for b in range(1, m, 2)]
    hits += [("snare", b + 0.5, 0.25) for b in range(m) if rng.random() < 0.25]
    return hits + [("kick", float(b), 0.25) for b in range(m) if rng.random() < 0.3]


def _double_kick(m, rng):
    hits = [("kick", k * 0.25, 0.9) for k in range(m * 4)]
    hits += [("snare", float(b), 1.0) for b in range(1, m, 2)]
    return hits + [("crash" if rng.random() < 0.3 else "ride", float(b), 0.6) for b in range(m)]


def _one_drop(m, rng):
    hits = [("hat", k * 0.5, 0.5) for k in range(m * 2)] + [("hat_open", 3.5, 0.4)]
    return hits + [("kick", 2.0, 1.0), ("rim", 2.0, 0.9)] + ([("rim", 3.5, 0.4)] if rng.random() < 0.4 else [])


def _steppers(m, rng):
    return [("kick", float(b), 0.9) for b in range(m)] + [("rim", 2.0, 0.9)] + [("hat", k * 0.5, 0.5) for k in range(m * 2)]


def _train(m, rng):
    hits = [("snare", k * 0.25, 0.3 if k % 2 else 0.5) for k in range(m * 4)]
    return hits + [("kick", 0.0, 0.9), ("kick", 2.0, 0.85)] + [("snare", float(b), 0.8) for b in range(1, m, 2)]


_DRUM_PATTERNS = {
    "backbeat": _backbeat, "shuffle": _shuffle, "four_floor": _four_floor, "boom_bap": _boom_bap, "trap": _trap,
    "jazz_ride": _jazz_ride, "double_kick": _double_kick, "one_drop": _one_drop, "steppers": _steppers,
    "train": _train,
}


def compose(genre: str, *, seconds: float = 30.0, seed: int | np.random.SeedSequence = 0,
            style: GenreStyle | None = None) -> Score:
    """Compose a clip of ``genre`` lasting ``seconds``, fully determined by ``seed``; ``style``
    (an artist's, :func:`graham.synth.artists.artist_style`) replaces the genre's own.

    Returns a :class:`Score` whose notes are sorted by onset and lie within the clip.
    """
    if genre not in STYLES:
        raise ParameterError(f"unknown genre {genre!r}; known: {sorted(STYLES)}")
    if seconds <= 0:
        raise ParameterError(f"seconds must be > 0, got {seconds}")
    rng = np.random.default_rng(seed)
    c = _Composer(genre, float(seconds), rng, style)
    s = c.style
    drums = s.drums[int(rng.integers(len(s.drums)))]
    if drums is not None:
        c.drums(drums)
    c.bass(str(rng.choice(s.bass)), str(rng.choice(s.bass_patch)))
    c.comp(str(rng.choice(s.comp)), str(rng.choice(s.comp_patch)))
    lead = s.lead_patch[int(rng.integers(len(s.lead_patch)))]
    if lead is not None:
        c.lead(lead)
    pad = s.pad_patch[int(rng.integers(len(s.pad_patch)))]
    if pad is not None:
        c.pad(pad)
    c.score.notes.sort(key=lambda n: (n.onset, n.track, n.pitch))
    return c.score
