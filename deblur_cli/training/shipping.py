"""The shipping rule as code: do new weights replace the previous ones, and may they be the offline default?

Both profiles are scored on the same held-out clips, through the product's
engine, for the new and the previous file:

- **ships** (replaces the previous file): better PSNR than the previous file on
  the blurry profile (``shake``), and no more than 0.3 dB below it on the
  nearly sharp one (``sharp``);
- **default** (installed as the offline default): ships, and meets the quality
  bar of weights/README.md: at least +3 dB over the blurry input on ``shake``
  and no more than 0.3 dB lost against the input on ``sharp``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

BLURRY, SHARP = "shake", "sharp"
MAX_SHARP_LOSS_DB = 0.3
DEFAULT_MIN_GAIN_DB = 3.0


@dataclass(frozen=True)
class Verdict:
    ships: bool
    default: bool
    reasons: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        head = "SHIP as the default" if self.default else ("SHIP (experimental)" if self.ships else "DO NOT SHIP")
        return head + ": " + "; ".join(self.reasons)


def judge(new: Mapping[str, Mapping[str, float]], previous: Mapping[str, Mapping[str, float]] | None) -> Verdict:
    """``new`` / ``previous``: profile -> overall figures (``psnr``, ``input_psnr``, ``gain_db``) on the same clips."""
    nb, ns = new[BLURRY], new[SHARP]
    figures = {"blurry_psnr": nb["psnr"], "blurry_gain_db": nb["gain_db"], "sharp_psnr": ns["psnr"],
               "sharp_gain_db": ns["gain_db"]}
    reasons = []
    ships = True
    if previous is not None:
        pb, ps = previous[BLURRY], previous[SHARP]
        blurry_delta, sharp_delta = nb["psnr"] - pb["psnr"], ns["psnr"] - ps["psnr"]
        figures.update(previous_blurry_psnr=pb["psnr"], previous_sharp_psnr=ps["psnr"],
                       blurry_vs_previous_db=blurry_delta, sharp_vs_previous_db=sharp_delta)
        better = blurry_delta > 0
        kept = sharp_delta >= -MAX_SHARP_LOSS_DB
        ships = better and kept
        reasons.append(f"{BLURRY} {blurry_delta:+.2f} dB vs the previous file ({'better' if better else 'not better'})")
        reasons.append(f"{SHARP} {sharp_delta:+.2f} dB vs the previous file "
                       f"({'within' if kept else 'beyond'} the {MAX_SHARP_LOSS_DB} dB allowed)")
    else:
        reasons.append("no previous file to beat")
    bar_gain = nb["gain_db"] >= DEFAULT_MIN_GAIN_DB
    bar_sharp = ns["gain_db"] >= -MAX_SHARP_LOSS_DB
    default = ships and bar_gain and bar_sharp
    reasons.append(f"{BLURRY} gain over its input {nb['gain_db']:+.2f} dB "
                   f"(default needs >= +{DEFAULT_MIN_GAIN_DB:.1f})")
    reasons.append(f"{SHARP} change against its input {ns['gain_db']:+.2f} dB (default needs >= -{MAX_SHARP_LOSS_DB})")
    return Verdict(ships, default, reasons, figures)
