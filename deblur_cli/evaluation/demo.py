"""Try the tool with no video of your own: blur a bundled photo, deblur it, measure the gain.

A short clip is synthesised from the sample photo shipped in ``assets/`` (a
validation-split image, so shipped weights never trained on it) with
moderate camera shake, written as ``blurry.mp4``, deblurred by the ordinary
video pipeline into ``deblurred.mp4``, and shown next to it in
``side_by_side.mp4``. Because the ground truth is known, the demo reports how
many dB the deblurring gained.

The figures compare the frames the engine received (``blurry.mp4`` as decoded
by the pipeline) and the frames it returned, both against the ground truth. The
final encode of ``deblurred.mp4`` is left out on purpose: 4:2:0 chroma and a
second lossy encode cost about 1 dB on this colourful photo even when nothing
is deblurred, which would be charged to the network otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import av
import numpy as np
import torch

from ..errors import OutputError
from ..inference.engine import Engine
from ..inference.frames import to_float, to_integer
from ..io.atomic import atomic_output, remove_quietly, write_atomic
from ..io.colour import RANGE_LIMITED, ColourInfo, frame_to_rgb, rgb_to_frame, tag
from ..io.source import VideoSource
from ..pipeline.compare import compose
from ..synth import SequenceGenerator
from ..synth.dataset import load_image
from ..synth.profiles import SHAKE
from .metrics import psnr, ssim

SAMPLE_IMAGE = "sample_brushes.jpg"
OUTPUT_NAMES = ("blurry.mp4", "deblurred.mp4", "side_by_side.mp4")
MARKER = ".stfan-demo"  # marks a folder as the demo's own scratch folder
DEMO_SIZE = (192, 320)  # (H, W): the size the quality bar is measured at
DEMO_FRAMES = 24
DEMO_FPS = 24
DEMO_SEED = 7
DEMO_CRF = 10  # near-lossless, so the figures measure deblurring, not the codec
# Camera shake only: the mp4 encode adds its own compression, and one photo has no other objects.
DEMO_PROFILE = replace(SHAKE, noise_prob=0.0, jpeg_prob=0.0, object_prob=0.0, scale=(1.0, 1.0))
BT709 = ColourInfo(primaries=1, trc=1, matrix=1, range=RANGE_LIMITED)


@dataclass(frozen=True)
class DemoResult:
    out_dir: Path
    blurry: Path
    deblurred: Path
    side_by_side: Path
    frames: int
    input_psnr: float
    output_psnr: float
    input_ssim: float
    output_ssim: float

    @property
    def gain_db(self) -> float:
        return self.output_psnr - self.input_psnr


def sample_image_path() -> Path:
    from importlib.resources import files

    return Path(str(files("deblur_cli") / "assets" / SAMPLE_IMAGE))


def demo_clip(frames: int = DEMO_FRAMES, size: tuple[int, int] = DEMO_SIZE, seed: int = DEMO_SEED,
              image: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The demo's (blurry, sharp) frames, (T, 3, H, W) in [0, 1]: the same for every run."""
    photo = load_image(image or sample_image_path())
    clip = SequenceGenerator([photo], frames, size, seed=seed, profile=DEMO_PROFILE).sequence(0)
    return clip.blurry, clip.sharp


def _to_uint8(frames: torch.Tensor) -> list[np.ndarray]:
    return [to_integer(frame.clamp(0, 1), np.uint8).cpu().numpy() for frame in frames]


def write_clip(path: Path, frames: list[np.ndarray], fps: int = DEMO_FPS, crf: int = DEMO_CRF) -> None:
    """RGB uint8 frames -> H.264 yuv420p mp4 tagged BT.709, written atomically."""
    height, width = frames[0].shape[:2]
    with atomic_output(path) as temp:
        with av.open(str(temp), "w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=Fraction(fps))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": str(crf), "preset": "medium"}
            tag(stream.codec_context, BT709)
            for index, rgb in enumerate(frames):
                frame = rgb_to_frame(np.ascontiguousarray(rgb), "rgb24", "yuv420p", BT709)
                frame.pts = index
                frame.time_base = Fraction(1, fps)
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))


def read_clip(path: Path) -> list[np.ndarray]:
    """Every frame of a video as (H, W, 3) uint8 RGB, converted with the file's own colour tags."""
    with VideoSource(path) as source:
        return [frame_to_rgb(frame, source.facts.colour, "rgb24") for frame in source.frames()]


class _RecordingEngine:
    """An :class:`~deblur_cli.inference.engine.Engine` passing frames to the real one, keeping what went in and out."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.inputs: list[np.ndarray] = []
        self.outputs: list[np.ndarray] = []

    def reset(self) -> None:
        self.engine.reset()

    def restore(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        def recorded() -> Iterator[np.ndarray]:
            for frame in frames:
                self.inputs.append(frame.copy())
                yield frame

        for restored in self.engine.restore(recorded()):
            self.outputs.append(restored.copy())
            yield restored


def _scores(frames: list[np.ndarray], truth: torch.Tensor) -> tuple[float, float]:
    x = torch.stack([to_float(frame, torch.device("cpu")) for frame in frames])
    return float(psnr(x, truth).mean()), float(ssim(x, truth).mean())


def is_demo_folder(out_dir: Path) -> bool:
    """A folder the demo made (its marker), or one holding nothing but the demo's files: its files are the
    demo's to replace on every run; anything else in a folder is never touched."""
    names = {p.name for p in out_dir.iterdir()} if out_dir.is_dir() else set()
    return MARKER in names or names <= set(OUTPUT_NAMES)


def run_demo(out_dir: str | Path, engine, *, frames: int = DEMO_FRAMES, overwrite: bool = False,
             on_start: Callable[[int | None], None] | None = None,
             on_frame: Callable[[int], None] | None = None) -> DemoResult:
    """Write blurry.mp4, deblurred.mp4 and side_by_side.mp4 into ``out_dir`` and score them.

    The demo's own folder (see :func:`is_demo_folder`) has its three files replaced on every run; elsewhere an
    existing file of those names needs ``overwrite``.
    """
    from ..pipeline.video import deblur_video

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"demo output must be a folder: {out_dir}")
    paths = [out_dir / name for name in OUTPUT_NAMES]
    existing, own = [p for p in paths if p.exists()], is_demo_folder(out_dir)
    if existing and not overwrite and not own:
        raise OutputError(f"{existing[0]} exists (use --overwrite to replace the demo's files)")
    for path in existing:
        remove_quietly(path)  # a stale side_by_side must not sit beside a fresh deblurred clip
    if own:
        write_atomic(out_dir / MARKER, "stfan-deblur demo: its three videos here are replaced on every run\n")
    blurry_path, deblurred_path, side_path = paths

    blurry, sharp = demo_clip(frames)
    write_clip(blurry_path, _to_uint8(blurry))
    recorder = _RecordingEngine(engine)
    deblur_video(blurry_path, deblurred_path, recorder, crf=DEMO_CRF, overwrite=True,
                 on_start=on_start, on_frame=on_frame)
    if len(recorder.outputs) != len(sharp):
        raise OutputError(f"the demo clip came back with {len(recorder.outputs)} frames, expected {len(sharp)}")
    shown_blurry, shown_deblurred = read_clip(blurry_path), read_clip(deblurred_path)
    write_clip(side_path, [compose(b, d, "side") for b, d in zip(shown_blurry, shown_deblurred)])
    input_psnr, input_ssim = _scores(recorder.inputs, sharp)
    output_psnr, output_ssim = _scores(recorder.outputs, sharp)
    return DemoResult(out_dir, blurry_path, deblurred_path, side_path, len(sharp),
                      input_psnr, output_psnr, input_ssim, output_ssim)
