"""Draw one log-mel spectrogram per synthetic genre into one PNG (the README's figure).

Usage: python scripts/plot_synth_genres.py [--out docs/synthetic_genres.png] [--seconds 10] [--seed 0]
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from graham.audio import LogMel, MelConfig
from graham.audio.mel import mel_frequencies
from graham.synth import GENRES, synthesize_clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/synthetic_genres.png")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cfg = MelConfig()
    logmel = LogMel(cfg)
    fig, axes = plt.subplots(2, 5, figsize=(20, 7), sharey=True, constrained_layout=True)
    freqs = mel_frequencies(cfg.n_mels, fmin=cfg.fmin, fmax=cfg.sr / 2)
    for ax, genre in zip(axes.flat, GENRES):
        score, y = synthesize_clip(genre, 0, seconds=args.seconds, seed=args.seed, sample_rate=cfg.sr)
        with torch.no_grad():
            mel = logmel(torch.from_numpy(y)).numpy()
        im = ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=mel.max() - 80, vmax=mel.max(),
                       extent=[0, args.seconds, 0, cfg.n_mels])
        ticks = [0, 32, 64, 96, 127]
        ax.set_yticks(ticks, [f"{freqs[t]:.0f}" for t in ticks])
        ax.set_title(f"{genre}  ({score.tempo:.0f} BPM, {score.meter}/4, swing {score.swing:.2f})")
        ax.set_xlabel("time [s]")
    for ax in axes[:, 0]:
        ax.set_ylabel("frequency [Hz] (mel scale)")
    fig.colorbar(im, ax=axes, shrink=0.8, label="dB")
    fig.suptitle(f"graham's synthetic genre corpus: clip 0 of each genre (seed {args.seed}), log-mel spectrogram")
    fig.savefig(args.out, dpi=72)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
