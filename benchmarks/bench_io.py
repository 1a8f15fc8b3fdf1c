"""The pipeline against the codec's own speed: a bare PyAV decode -> encode loop; the pipeline, identity engines.

Why (issue 22): every run decodes and encodes on the CPU; with an engine that
costs nothing the pipeline should be as fast as FFmpeg's decoder and encoder
alone. Three runs over one generated clip (tests/clipgen.py), interleaved and
best of ``--repeat``:

- bare: PyAV decodes (``thread_type`` AUTO, as the tool's source does) and encodes each
  decoded frame with the tool's encoder plan (io/encode_plan.py: libx264, preset
  faster, frame threads) at ``--crf``, nothing else;
- planes: deblur_video with an engine that takes the decoder's planes and returns them
  (``device_colour="on"``: what a GPU run leaves to the CPU);
- rgb: deblur_video with an engine that takes and returns RGB arrays (``device_colour="off"``:
  the CPU run's path, swscale YUV -> RGB -> YUV).

Each pipeline run's stage table follows (seconds per stage of the read, restore
and write threads), then what each piece of work costs in CPU time per frame
(process time, all threads; each piece alone over the clip's first frames):
on a machine with few cores a stage table's wall seconds include waiting for a
core, the CPU time is what the pieces take from each other. The last lines are
the ratios to the bare loop.

    python benchmarks/bench_io.py                      # 1280x720, 120 frames, CRF 18, best of 2
    python benchmarks/bench_io.py --size 320x192 --frames 24 --repeat 1
"""

from __future__ import annotations

import argparse
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

import av

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_flops import parse_size  # noqa: E402

from deblur_cli.cli.report import stage_rows  # noqa: E402
from deblur_cli.inference.colour import PLANE_FORMATS  # noqa: E402
from deblur_cli.inference.frames import PlaneLayout, YuvFrame  # noqa: E402
from deblur_cli.io.colour import frame_planes, frame_to_rgb, planes_to_frame, rgb_to_frame  # noqa: E402
from deblur_cli.io.encode_plan import plan_encoder  # noqa: E402
from deblur_cli.io.source import VideoSource  # noqa: E402
from deblur_cli.pipeline.batch import FileOutcome  # noqa: E402
from deblur_cli.pipeline.scenecut import SceneCutDetector  # noqa: E402
from deblur_cli.pipeline.stages import QUEUE_SIZE  # noqa: E402
from deblur_cli.pipeline.video import deblur_video  # noqa: E402
from tests.clipgen import make_clip  # noqa: E402


class PlanesIdentity:
    """Returns each frame as it came: the decoder's planes as the encoder's (same pixel format and colour here)."""

    takes_planes = True

    def reset(self) -> None:
        pass

    def restore(self, frames):
        for frame in frames:
            yield YuvFrame(frame.planes, frame.target, frame.target) if isinstance(frame, YuvFrame) else frame


class RgbIdentity(PlanesIdentity):
    """Returns each RGB array as it came (takes RGB only)."""

    takes_planes = False


def bare_loop(source: Path, output: Path, crf: int, extras: str = "") -> float:
    """Seconds to decode ``source`` and encode every frame with the tool's plan, muxed into ``output``.

    ``extras`` adds, one by one, what the planes path does beyond this (``--anatomy``): "copy" hands
    the encoder a new frame holding the decoded planes (planes_to_frame), "cuts" scores scene cuts,
    "thread" decodes in a second thread with a queue of QUEUE_SIZE frames between.
    """
    with VideoSource(source) as probe:
        facts = probe.facts
    plan = plan_encoder(output, facts, crf=crf)
    layout = PlaneLayout(facts.pix_fmt) if facts.pix_fmt in PLANE_FORMATS else None
    detector = SceneCutDetector()
    started = time.perf_counter()
    with av.open(str(source)) as inp, av.open(str(output), "w", format=plan.muxer) as out:
        decoder = inp.streams.video[0]
        decoder.thread_type = "AUTO"  # as io/source.py opens it
        encoder = out.add_stream(plan.codec, rate=facts.average_rate)
        encoder.width, encoder.height, encoder.pix_fmt = facts.width, facts.height, plan.pix_fmt
        encoder.time_base = encoder.codec_context.time_base = decoder.time_base
        encoder.options = dict(plan.options)
        if plan.thread_type:
            encoder.codec_context.thread_type = plan.thread_type

        def frames():
            for frame in inp.decode(decoder):
                if "cuts" in extras and layout is not None:
                    detector.is_cut(YuvFrame(tuple(frame_planes(frame)), layout, layout))
                if "copy" in extras:
                    copied = planes_to_frame(frame_planes(frame), plan.pix_fmt, facts.colour)
                    copied.pts, copied.time_base, frame = frame.pts, frame.time_base, copied
                frame.pict_type = av.video.frame.PictureType.NONE  # the encoder decides frame types, as in the tool
                yield frame

        items = frames()
        if "thread" in extras:
            handoff: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)

            def read() -> None:
                for frame in frames():
                    handoff.put(frame)
                handoff.put(None)

            threading.Thread(target=read, daemon=True).start()
            items = iter(handoff.get, None)
        for frame in items:
            out.mux(encoder.encode(frame))
        out.mux(encoder.encode(None))
    return time.perf_counter() - started


ANATOMY = ("copy", "cuts", "thread", "copy+cuts+thread")  # --anatomy: the bare loop plus each extra, then all


def pipeline_run(source: Path, output: Path, crf: int, planes: bool):
    engine = PlanesIdentity() if planes else RgbIdentity()
    result = deblur_video(source, output, engine, crf=crf, overwrite=True, device_colour="on" if planes else "off")
    expected = "device" if planes else "cpu"
    if result.colour != expected:
        raise SystemExit(f"the {'planes' if planes else 'rgb'} run took the {result.colour} colour path")
    return result


def print_stages(label: str, result) -> None:
    outcome = FileOutcome.finished(result.input, result.output, result, "cpu")
    rows, verdict = stage_rows([outcome])
    print(f"\n{label}: {result.frames} frames in {result.seconds:.2f} s = {result.fps:.1f} frames/s")
    print("| thread | stage | seconds | ms/frame | share of wall |")
    print("|---|---|---|---|---|")
    for thread, stage, seconds, per_frame, share in rows:
        print(f"| {thread} | {stage} | {seconds:.3f} | {per_frame:.2f} | {100 * share:.1f} % |")
    print(verdict)


def cpu_costs(source: Path, output: Path, crf: int, count: int = 30) -> dict[str, float]:
    """CPU milliseconds per frame (process time, every thread) of each piece of the work, alone."""
    with VideoSource(source) as src:
        facts = src.facts
        frames = [frame for _, frame in zip(range(count), src.frames())]
    colour, rgb_format = facts.colour, "rgb24"
    plan = plan_encoder(output, facts, crf=crf)
    rgbs = [frame_to_rgb(frame, colour, rgb_format) for frame in frames]
    planes = [tuple(frame_planes(frame)) for frame in frames]
    detector = SceneCutDetector()

    def per_frame(work) -> float:
        started = time.process_time()
        for index in range(len(frames)):
            work(index)
        return (time.process_time() - started) / len(frames) * 1e3

    costs = {
        "YUV -> RGB (swscale, io/colour.py)": per_frame(lambda i: frame_to_rgb(frames[i], colour, rgb_format)),
        "RGB -> YUV (swscale, io/colour.py)": per_frame(
            lambda i: rgb_to_frame(rgbs[i], rgb_format, plan.pix_fmt, colour)),
        "planes out of the decoder's frame (views)": per_frame(lambda i: frame_planes(frames[i])),
        "planes into the encoder's frame (copy)": per_frame(lambda i: planes_to_frame(planes[i], plan.pix_fmt, colour)),
        "scene-cut signature and score (RGB)": per_frame(lambda i: detector.is_cut(rgbs[i])),
    }
    started = time.process_time()
    bare_loop(source, output, crf)
    costs["bare decode -> encode loop, whole clip"] = (time.process_time() - started) * 1e3
    return costs


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT of the generated clip")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--crf", type=int, default=18)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, interleaved; the best counts")
    parser.add_argument("--anatomy", action="store_true",
                        help="also the bare loop plus each thing the planes path adds (copy, cuts, thread)")
    args = parser.parse_args(argv)
    height, width = parse_size(args.size)
    best = {"bare": float("inf"), "planes": float("inf"), "rgb": float("inf")}
    fastest: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = make_clip(Path(tmp) / "input.mp4", size=(width, height), frames=args.frames)
        for _ in range(args.repeat):
            best["bare"] = min(best["bare"], bare_loop(source, Path(tmp) / "bare.mp4", args.crf))
            for name in ("planes", "rgb"):
                result = pipeline_run(source, Path(tmp) / f"{name}.mp4", args.crf, planes=name == "planes")
                if result.seconds < best[name]:
                    best[name], fastest[name] = result.seconds, result
            for extras in ANATOMY if args.anatomy else ():
                seconds = bare_loop(source, Path(tmp) / "anatomy.mp4", args.crf, extras)
                best[f"bare+{extras}"] = min(best.get(f"bare+{extras}", float("inf")), seconds)
        costs = cpu_costs(source, Path(tmp) / "costs.mp4", args.crf)
    print(f"{width}x{height}, {args.frames} frames, libx264 CRF {args.crf} (the tool's plan), best of {args.repeat}, "
          f"interleaved")
    for name in ("planes", "rgb"):
        print_stages(f"pipeline, identity engine on the {name} path", fastest[name])
    print("\nCPU time per frame, each piece alone (process time, all threads):")
    whole = costs.pop("bare decode -> encode loop, whole clip") / args.frames
    print(f"  {'bare decode -> encode loop':<44} {whole:7.2f} ms")
    for piece, ms in costs.items():
        print(f"  {piece:<44} {ms:7.2f} ms  ({100 * ms / whole:5.1f} % of the bare loop's)")
    fps = {name: args.frames / seconds for name, seconds in best.items()}
    for name in (n for n in fps if n.startswith("bare+")):
        print(f"{name}: {fps[name]:.1f} frames/s = {fps[name] / fps['bare']:.2f}x the bare loop")
    print(f"\nbare decode -> encode loop: {fps['bare']:.1f} frames/s")
    print(f"pipeline, planes path: {fps['planes']:.1f} frames/s = {fps['planes'] / fps['bare']:.2f}x the bare loop")
    print(f"pipeline, RGB path: {fps['rgb']:.1f} frames/s = {fps['rgb'] / fps['bare']:.2f}x the bare loop")
    return {name: fps[name] / fps["bare"] for name in ("planes", "rgb")}


if __name__ == "__main__":
    main()
