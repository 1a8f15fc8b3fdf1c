"""``scan --plot``: each file's timeline as a PNG (matplotlib, the optional ``plot`` extra).

A strip of thumbnails (the first frame, the worst frame of each of the worst
stretches, the last) above the blur score over time, the threshold as a dashed
line and the blurred stretches shaded: which seconds are blurred, at a glance.
The thumbnails are decoded again (a few seeks), not kept during the scan.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import OptionError, OutputError
from ..io.atomic import atomic_output
from ..pipeline.scan import FileScan

THUMBNAILS = 5
THUMB_WIDTH = 240  # px


def check_plotting() -> None:
    """OptionError (one line) where matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise OptionError("--plot needs matplotlib: pip install 'stfan-deblur[plot]'") from None


def targets(scans: list[FileScan], target: Path, root: Path | None) -> list[Path]:
    """Where each file's PNG goes: ``target`` itself for one input given as .png, else one PNG per file in it."""
    if len(scans) == 1 and root is None and target.suffix.lower() == ".png":
        return [target]
    if target.suffix.lower() == ".png":
        raise OptionError(f"--plot {target}: a folder is needed for a folder of inputs (one PNG per file)")
    out = []
    for scan in scans:
        name = scan.path.relative_to(root) if root is not None else Path(scan.path.name)
        out.append(target / name.with_name(name.name + ".png"))
    return out


def _moments(scan: FileScan) -> list[int]:
    """The frames shown as thumbnails: first, the worst frame of each worst stretch, last."""
    picks = {0, len(scan.scores) - 1}
    for stretch in scan.worst(THUMBNAILS - 2):
        scores = [s.score for s in scan.scores[stretch.first: stretch.last + 1]]
        picks.add(stretch.first + int(np.argmax(scores)))
    return sorted(picks)


def _thumbnails(scan: FileScan, indices: list[int]) -> list[np.ndarray]:
    from ..io.source import VideoSource

    wanted, found = set(indices), {}
    if scan.path.is_dir():
        from ..io.sequence import FrameSequence

        with FrameSequence(scan.path) as source:
            for i, (rgb, _, _) in enumerate(source.arrays()):
                if i in wanted:
                    found[i] = rgb
    else:
        with VideoSource(scan.path) as source:
            for i, frame in enumerate(source.frames()):
                if i in wanted:
                    height = max(2, round(THUMB_WIDTH * frame.height / frame.width / 2) * 2)
                    found[i] = frame.to_ndarray(format="rgb24", width=THUMB_WIDTH, height=height)
                if i >= max(indices):
                    break
    return [found[i] for i in indices if i in found]


def plot_scan(scan: FileScan, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    indices = _moments(scan)
    thumbs = _thumbnails(scan, indices)
    figure = plt.figure(figsize=(11, 5.2), dpi=100)
    grid = figure.add_gridspec(2, max(len(thumbs), 1), height_ratios=(1, 1.5), hspace=0.35)
    for k, (index, thumb) in enumerate(zip(indices, thumbs)):
        axis = figure.add_subplot(grid[0, k])
        axis.imshow(thumb.astype(np.uint8) if thumb.dtype != np.uint8 else thumb)
        axis.set_axis_off()
        score, blurred = scan.scores[index], scan.blurred[index]
        axis.set_title(f"{scan.times[index]:.1f} s: {score.score:.2f}" + (f" {score.kind}" if blurred else ""),
                       fontsize=9, color="tab:red" if blurred else "black")
    curve = figure.add_subplot(grid[1, :])
    times = np.array(scan.times)
    curve.plot(times, [s.score for s in scan.scores], color="tab:blue", linewidth=1.2, label="blur score")
    curve.axhline(scan.threshold, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {scan.threshold}")
    for stretch in scan.stretches:
        curve.axvspan(stretch.start, stretch.end, color="tab:red", alpha=0.15, linewidth=0)
    curve.set_xlim(0, max(scan.duration, scan.step))
    curve.set_ylim(0, 1)
    curve.set_xlabel("seconds")
    curve.set_ylabel("blur score")
    curve.legend(loc="upper right", fontsize=8)
    figure.suptitle(f"{scan.path.name}: {100 * scan.blurred_fraction:.0f} % blurred ({scan.kind or 'none'})",
                    fontsize=11)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as temp:
            figure.savefig(temp, format="png")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(figure)


def plot_scans(scans: list[FileScan], target: Path, root: Path | None) -> list[Path]:
    """One PNG per file that was read (see :func:`targets`); returns the paths written."""
    written = []
    for scan, path in zip(scans, targets(scans, target, root)):
        if not scan.error and scan.times:
            plot_scan(scan, path)
            written.append(path)
    return written
