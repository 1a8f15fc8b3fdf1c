"""Does ``--strength auto`` do no harm? PSNR of input, raw restoration and auto on three kinds of synthetic clips.

Kinds (eval-style clips from deblur_cli.synth, validation photos, seed 20190):
- sharp: the ``sharp`` validation profile (very short exposure, blur well under a pixel);
- shake: the ``shake`` validation profile (moderate-to-strong camera shake, whole frames blurred);
- mixed: a still camera (sharp background) with one or two independently moving, blurred objects
  (defined here: the ``shake`` profile without camera motion and with objects in every clip).

Each clip goes through the network once (build_engine's plain engine, as ``eval`` uses it); the
same outputs are scored raw and as :class:`~deblur_cli.inference.strength.StrengthEngine` writes
them (rounded to 8 bits, as a saved frame would be). ``oracle`` is the ceiling of any per-region
blend: each cell of the map's grid takes whichever of input and restoration is closer to the truth
(a map that knows the answer). Goals (issue 12): sharp loses at most 0.3 dB
against the input; shake keeps at least 90 % of the raw gain; mixed beats both input and raw.

    python benchmarks/bench_strength.py --weights weights/stfan_synth_v0.safetensors --device cpu
    python benchmarks/bench_strength.py --weights W --split train   # the photos the estimator was tuned on
    python benchmarks/bench_strength.py --stand-in 0.6 --clean   # no network: 60 % of the blur undone
    python benchmarks/bench_strength.py --weights W --cache /tmp/raw   # later runs replay the network's outputs
    python benchmarks/bench_strength.py --time-map 320x192,1280x720   # what the map costs per frame

With ``--cache`` the network's raw outputs are kept (one file per kind and clip) and replayed by
later runs with the same weights, clips and size: comparing map settings then takes seconds, since
the network runs as before whatever the map (its recurrence is fed its own outputs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deblur_cli.evaluation.evaluate import VALIDATION_SEED  # noqa: E402
from deblur_cli.evaluation.metrics import PSNR_CEILING, psnr  # noqa: E402
from deblur_cli.inference.build import build_engine  # noqa: E402
from deblur_cli.inference.frames import to_float, to_integer  # noqa: E402
from deblur_cli.inference.strength import StrengthEngine, map_settings_for  # noqa: E402
from deblur_cli.inference.weightmap import MAP_SETTINGS, gaussian_blur, grid_size  # noqa: E402
from deblur_cli.io.atomic import atomic_output, write_atomic  # noqa: E402
from deblur_cli.synth import SequenceGenerator, list_images, load_images, split_images  # noqa: E402
from deblur_cli.synth.camera import MotionRange  # noqa: E402
from deblur_cli.synth.profiles import SHAKE, SHARP  # noqa: E402

STILL = MotionRange(pan_speed=(0.0, 0.0), shake_speed=(0.0, 0.0), rotation_speed=0.0, zoom_speed=0.0)
MIXED = replace(SHAKE, motion=STILL, object_prob=1.0, object_speed=(6.0, 16.0))
KINDS = {"sharp": SHARP, "shake": SHAKE, "mixed": MIXED}
DEFAULT_IMAGES = REPO.parent / "shared" / "train-images"


class Recorder:
    """A step engine that keeps the inner engine's last output (the raw restoration) before it is blended."""

    def __init__(self, inner) -> None:
        self.inner, self.device, self.outputs = inner, inner.device, []

    def reset(self) -> None:
        self.inner.reset()

    def step(self, frame: torch.Tensor) -> torch.Tensor:
        out = self.inner.step(frame)
        self.outputs.append(out.float().cpu())
        return out


class Replay:
    """Not a network: the outputs a network gave for these frames before (``--cache``), in order."""

    def __init__(self, outputs: torch.Tensor) -> None:
        self.outputs, self.device, self.index = outputs, outputs.device, 0

    def reset(self) -> None:
        self.index = 0

    def step(self, frame: torch.Tensor) -> torch.Tensor:
        self.index += 1
        return self.outputs[self.index - 1]


class StandIn:
    """Not a network: each frame's restoration is ``input + share * (truth - input)`` (noise and JPEG undone too),
    then, with ``soften``, blurred by a Gaussian of that many pixels (a network that softens what it writes).

    What ``auto`` would make of weights better than the shipped ones, without them: ``--stand-in 0.6``;
    of good weights that soften sharp footage (ESTRNN issue #31): ``--stand-in 0.6 --soften 1``.
    """

    def __init__(self, share: float, soften: float = 0.0) -> None:
        self.share, self.soften, self.device, self.truth, self.index = share, soften, torch.device("cpu"), None, 0

    def reset(self) -> None:
        self.index = 0

    def step(self, frame: torch.Tensor) -> torch.Tensor:
        out = torch.lerp(frame.float(), self.truth[self.index], self.share)
        self.index += 1
        if self.soften:  # each colour plane on its own
            out = gaussian_blur(out.reshape(-1, 1, *out.shape[-2:]), self.soften).reshape(out.shape)
        return out


def to_uint8(frames: torch.Tensor) -> list[np.ndarray]:
    """(T, 3, H, W) in [0, 1] -> T (H, W, 3) uint8 frames."""
    return [to_integer(frame.clamp(0, 1), np.uint8).numpy() for frame in frames]


def from_uint8(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.stack([to_float(frame, torch.device("cpu")) for frame in frames])


def oracle(blurry: torch.Tensor, raw: torch.Tensor, sharp: torch.Tensor) -> torch.Tensor:
    """Per cell of the map's grid, whichever of input and restoration is closer to the truth (8-bit rounded)."""
    cells = grid_size(*blurry.shape[-2:])
    error_in = F.adaptive_avg_pool2d((blurry - sharp).square().mean(1, keepdim=True), cells)
    error_raw = F.adaptive_avg_pool2d((raw - sharp).square().mean(1, keepdim=True), cells)
    take = F.interpolate((error_raw < error_in).float(), size=blurry.shape[-2:], mode="nearest")
    return (torch.lerp(blurry, raw, take) * 255).round() / 255


def score_clip(engine, recorder: Recorder, blurry: torch.Tensor, sharp: torch.Tensor,
               ceiling: float | None = None) -> dict[str, list[float]]:
    """Per-frame PSNR of the input, the raw restoration and what the strength engine wrote (each frame's PSNR
    counted at most ``ceiling`` dB where given, as ``eval`` counts it)."""
    engine.reset()
    recorder.outputs.clear()
    written = from_uint8(list(engine.restore(to_uint8(blurry))))
    raw = (torch.stack(recorder.outputs) * 255).round() / 255

    def score(frames: torch.Tensor) -> list[float]:
        return psnr(frames, sharp).clamp(max=ceiling or float("inf")).tolist()

    return {"input": score(blurry), "raw": score(raw), "auto": score(written),
            "oracle": score(oracle(blurry, raw, sharp)), "strength": [engine.mean_strength] * len(blurry)}


def run(args) -> dict:
    train, val = split_images(list_images(args.images))
    photos = load_images(val if args.split == "val" else train)
    if args.stand_in is not None:
        network = StandIn(args.stand_in, args.soften)
    else:
        network = build_engine(args.weights, device=args.device, fp16=args.fp16)
    settings = MAP_SETTINGS[args.map] if args.map else map_settings_for(getattr(network, "weights", None))
    print(f"map setting: {settings.name} (ratio {settings.ratio[0]} to {settings.ratio[1]}, "
          f"change {settings.change[0]} to {settings.change[1]} levels)")
    print(f"{'kind':<6} {'frames':>6} {'input':>8} {'raw':>8} {'gain':>7} {'auto':>8} {'gain':>7} {'vs raw':>7} "
          f"{'strength':>8} {'oracle':>8}")
    results = {}
    for kind in args.kinds:
        profile = replace(KINDS[kind], noise_prob=0.0, jpeg_prob=0.0) if args.clean else KINDS[kind]
        generator = SequenceGenerator(photos, args.frames, (args.height, args.width), seed=args.seed, profile=profile)
        frames: dict[str, list[float]] = {"input": [], "raw": [], "auto": [], "oracle": [], "strength": []}
        started = time.perf_counter()
        for index in range(args.clips):
            cached = args.cache / f"{cache_key(args, network)}-{kind}-{index:03d}.pt" if args.cache else None
            if cached is not None and cached.exists():  # the clip and the network's outputs, as they were
                saved = torch.load(cached)
                blurry, sharp, restorer = saved["blurry"], saved["sharp"], Replay(saved["raw"])
            else:
                clip = generator.sequence(index)
                blurry, sharp, restorer = clip.blurry, clip.sharp, network
                if isinstance(network, StandIn):
                    network.truth = sharp.float()
            recorder = Recorder(restorer)
            engine = StrengthEngine(recorder, "auto", settings)
            scores = score_clip(engine, recorder, blurry, sharp, args.ceiling)
            if cached is not None and restorer is network:
                with atomic_output(cached) as temp:  # a run stopped half-way leaves no half-written file to replay
                    torch.save({"blurry": blurry, "sharp": sharp, "raw": torch.stack(recorder.outputs)}, temp)
            for key, values in scores.items():
                frames[key] += values
            if args.verbose:
                print(f"  {kind}_{index:03d}: input {np.mean(scores['input']):6.2f}  raw {np.mean(scores['raw']):6.2f}"
                      f"  auto {np.mean(scores['auto']):6.2f}  strength {scores['strength'][0]:.2f}", flush=True)
        results[kind] = {key: float(np.mean(values)) for key, values in frames.items()}
        results[kind]["frames"] = len(frames["input"])
        results[kind]["seconds"] = round(time.perf_counter() - started, 1)
        print(format_row(kind, results[kind]), flush=True)
    return results


def cache_key(args, network) -> str:
    """A name for what the raw outputs depend on: the restorer (the weights' checksum), the photos and the clips."""
    if isinstance(network, StandIn):
        restorer = f"standin{args.stand_in}-soften{args.soften}"
    else:
        restorer = f"{Path(str(args.weights)).stem}-{getattr(network.weights, 'sha256', '')[:12]}"
    inputs = f"{args.images.resolve()}|{args.split}|{args.clean}|{args.fp16}|{args.width}x{args.height}|{args.frames}"
    return f"{restorer}-{args.split}-s{args.seed}-{hashlib.sha256(inputs.encode()).hexdigest()[:12]}"


def format_row(kind: str, r: dict) -> str:
    return (f"{kind:<6} {r['frames']:>6} {r['input']:8.2f} {r['raw']:8.2f} {r['raw'] - r['input']:+7.2f} "
            f"{r['auto']:8.2f} {r['auto'] - r['input']:+7.2f} {r['auto'] - r['raw']:+7.2f} {r['strength']:8.2f} "
            f"{r['oracle']:8.2f}")


def goals(results: dict) -> list[tuple[str, str, bool]]:
    """(goal, measured, met) for the kinds that were run."""
    out = []
    if "sharp" in results:
        r = results["sharp"]
        out.append(("sharp: auto loses <= 0.3 dB vs input", f"{r['auto'] - r['input']:+.2f} dB",
                    r["auto"] - r["input"] >= -0.3))
    if "shake" in results:
        r = results["shake"]
        raw_gain, auto_gain = r["raw"] - r["input"], r["auto"] - r["input"]
        kept = auto_gain / raw_gain if raw_gain > 0 else float("nan")
        out.append(("shake: auto keeps >= 90 % of the raw gain", f"{auto_gain:+.2f} of {raw_gain:+.2f} dB "
                    f"({100 * kept:.0f} %)", raw_gain <= 0 or auto_gain >= 0.9 * raw_gain))
    if "mixed" in results:
        r = results["mixed"]
        measured = f"{r['auto'] - r['input']:+.2f} / {r['auto'] - r['raw']:+.2f} dB"
        out.append(("mixed: auto beats input and raw", measured, r["auto"] > r["input"] and r["auto"] > r["raw"]))
    return out


def time_map(sizes: list[str], device: str) -> None:
    """Milliseconds per frame of what ``auto`` adds to the network: estimate, smoothing, upsampling and blend."""
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)

    def finished() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()

    for size in sizes:
        width, height = (int(v) for v in size.lower().split("x"))
        frames = 20 if width * height < 500_000 else 5
        restored = torch.rand(1, 3, height, width, device=device).expand(frames + 2, -1, -1, -1)
        engine = StrengthEngine(Replay(restored))
        frame = torch.rand(3, height, width, device=device)
        for _ in range(2):  # warm-up
            engine.step(frame)
        started = finished()
        for _ in range(frames):
            engine.step(frame)
        print(f"{size}: {1000 * (finished() - started) / frames:.1f} ms per frame "
              f"({frames} frames, {device}, {torch.get_num_threads()} threads)")


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="a weights file or entry name")
    parser.add_argument("--stand-in", type=float, default=None, metavar="SHARE",
                        help="instead of weights, a stand-in restoration: input + SHARE (truth - input)")
    parser.add_argument("--soften", type=float, default=0.0, metavar="SIGMA",
                        help="with --stand-in: then blur it by a Gaussian of SIGMA px (a network that softens)")
    parser.add_argument("--map", choices=sorted(MAP_SETTINGS), default=None,
                        help="the map's setting (default: what the weights call for; standard for --stand-in)")
    parser.add_argument("--clean", action="store_true", help="clips without noise or JPEG (blur alone)")
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="folder of sharp photos")
    parser.add_argument("--split", choices=("val", "train"), default="val",
                        help="which photos (the estimator was tuned on train only)")
    parser.add_argument("--kinds", default="sharp,shake,mixed")
    parser.add_argument("--clips", type=int, default=8, help="clips per kind")
    parser.add_argument("--frames", type=int, default=6, help="frames per clip")
    parser.add_argument("--size", default="320x192", help="WIDTHxHEIGHT")
    parser.add_argument("--seed", type=int, default=VALIDATION_SEED)
    parser.add_argument("--ceiling", type=float, default=None, metavar="DB",
                        help=f"count each frame's PSNR at most DB (eval's rule: {PSNR_CEILING:g}); default: no ceiling")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--fp16", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="keep the network's raw outputs here and replay them in later runs")
    parser.add_argument("--time-map", default=None, metavar="WxH,...",
                        help="only time the map (no clips, no network) at these frame sizes")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("-v", "--verbose", action="store_true", help="a line per clip")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.time_map:
        time_map(args.time_map.split(","), args.device)
        return None
    if (args.weights is None) == (args.stand_in is None):
        parser.error("give --weights or --stand-in")
    args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if unknown := sorted(set(args.kinds) - set(KINDS)):
        parser.error(f"unknown kind(s) {', '.join(unknown)}: choose from {', '.join(KINDS)}")
    restorer = f"weights {args.weights}"
    if args.stand_in is not None:
        restorer = f"stand-in {args.stand_in}" + (f", softened by {args.soften} px" if args.soften else "")
    ceiling = f", PSNR counted at most {args.ceiling:g} dB" if args.ceiling else ""
    print(f"{args.clips} clips x {args.frames} frames per kind, {args.width}x{args.height}, {args.split} photos, "
          f"seed {args.seed}, {restorer}, device {args.device}{ceiling}")
    results = run(args)
    for goal, measured, met in goals(results):
        print(f"{'met ' if met else 'MISS'}  {goal}: {measured}")
    if args.json:
        write_atomic(args.json, json.dumps({"settings": {k: str(v) for k, v in vars(args).items()},
                                            "results": results}, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
