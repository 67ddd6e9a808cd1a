"""The README's picture: two figures of a run's report stacked into one PNG, the t-SNE of the
Siamese and GNN features over one clip's Grad-CAM++ (heatmap, log-mel, overlay).

    python scripts/report_overview.py runs/demo --clip metal.00011 --out docs/report_overview.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a run folder whose report was written (graham train or demo)")
    ap.add_argument("--clip", default=None, help="the explained clip to show (default: the first)")
    ap.add_argument("--out", type=Path, default=Path("docs/report_overview.png"))
    ap.add_argument("--width", type=int, default=1100)
    args = ap.parse_args()
    figures = args.run / "figures"
    cams = sorted(p for p in figures.glob("gradcam_*.png") if p.stem != "gradcam_mean")
    cam = next((p for p in cams if args.clip and p.stem == f"gradcam_{args.clip}"), cams[0] if cams else None)
    if cam is None:
        raise SystemExit(f"{figures}: no Grad-CAM++ figure (write the run's report first)")
    parts = [Image.open(figures / "tsne.png").convert("RGB"), Image.open(cam).convert("RGB")]
    parts = [p.resize((args.width, round(p.height * args.width / p.width)), Image.LANCZOS) for p in parts]
    out = Image.new("RGB", (args.width, sum(p.height for p in parts)), "white")
    y = 0
    for p in parts:
        out.paste(p, (0, y))
        y += p.height
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out.save(args.out, optimize=True)
    print(f"{args.out}: {out.size[0]}x{out.size[1]} from {figures / 'tsne.png'} and {cam}")


if __name__ == "__main__":
    main()
