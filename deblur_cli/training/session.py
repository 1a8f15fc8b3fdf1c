"""One prepared GPU session that advances the shipped weights: continue, train on the clock, score, judge.

    python -m deblur_cli.training.session --out OUT --images DIR [--seconds 420] [...]

1. continues the most trained file in ``weights/`` (its card's history carries on);
2. trains for ``--seconds`` (the rate warms up, then decays on the clock);
3. scores the new file and the previous one on the same held-out clips of both
   profiles (blurry ``shake``, nearly sharp ``sharp``), through the product's engine;
4. applies the shipping rule (:mod:`.shipping`) and writes to OUT: the new fp16
   weights (named for the verdict: ``stfan_synth_v1.safetensors`` only if they
   qualify as the offline default, i.e. a shipped entry that is not experimental
   in models/registry.py, else ``stfan_synth_s<sessions>.safetensors``),
   ``train_log.jsonl`` and ``eval.json`` (every figure and the verdict).

Nothing here needs PyAV. The checkpoint stays in a temporary run folder
(it holds the optimiser state, too large to bring back).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..models.weights import shipped_weights_dir
from .card import read_card
from .config import TrainConfig
from .shipping import judge

GPU_SIZE, GPU_BATCH, GPU_SEQ_LEN = (256, 256), 32, 4
EVAL_CLIPS, EVAL_FRAMES, EVAL_SIZE = 16, 6, (192, 320)


def _size(text: str) -> tuple[int, int]:
    """'WIDTHxHEIGHT' -> (height, width)."""
    width, height = (int(part) for part in text.lower().split("x"))
    return height, width


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m deblur_cli.training.session", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the weights, log and eval (created)")
    p.add_argument("--images", type=Path, required=True, help="folder of sharp photos")
    p.add_argument("--seconds", type=float, default=420.0, help="seconds of training")
    p.add_argument("--init", type=Path, default=None, help="weights to continue (default: newest in weights/)")
    p.add_argument("--weights-dir", type=Path, default=None, help="where the shipped weights are")
    p.add_argument("--size", type=_size, default=GPU_SIZE, help="training crop WIDTHxHEIGHT")
    p.add_argument("--batch", type=int, default=GPU_BATCH)
    p.add_argument("--seq-len", type=int, default=GPU_SEQ_LEN)
    p.add_argument("--lr", type=float, default=None, help="peak rate (default: the fine-tuning rate for the batch)")
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--workers", default="0", help="rendering processes, or 'auto' to follow the bench's best")
    p.add_argument("--bench-json", type=Path, default=None, help="bench_train.py --json output for --workers auto")
    p.add_argument("--compile", default="off")
    p.add_argument("--fac", default="auto")
    p.add_argument("--amp", default="auto")
    p.add_argument("--safe", action="store_true",
                   help="the fallback recipe: reference FAC, NCHW (if the fast path failed on this machine)")
    p.add_argument("--device", default="auto")
    p.add_argument("--eval-clips", type=int, default=EVAL_CLIPS)
    p.add_argument("--eval-frames", type=int, default=EVAL_FRAMES)
    p.add_argument("--seed", type=int, default=None, help="clip stream seed (default: differs per session)")
    return p.parse_args(argv)


def weights_folder() -> Path:
    """The repository's weights/ in a checkout (where the GPU session runs), else the installed copy."""
    checkout = Path(__file__).resolve().parents[2] / "weights"
    return checkout if checkout.is_dir() else shipped_weights_dir()


def choose_workers(spec: str, bench_json: Path | None, size: tuple[int, int], batch: int) -> int:
    """A number, or 'auto': the workers setting with the most frames/s in the bench for this size and batch."""
    if spec != "auto":
        return int(spec)
    if bench_json is None or not bench_json.is_file():
        return 0
    rows = [r for r in json.loads(bench_json.read_text()).get("results", [])
            if list(r.get("size", [])) == list(size) and r.get("batch") == batch and "frames_per_s" in r]
    return int(max(rows, key=lambda r: r["frames_per_s"])["workers"]) if rows else 0


def evaluate_file(weights: Path, images: Path, device: str, clips: int, frames: int) -> dict[str, Any]:
    """Both profiles' report for one weights file on the held-out clips (the same clips for every file)."""
    from ..evaluation.evaluate import evaluate_clips, synthetic_clips, validation_images
    from ..inference.build import build_engine

    engine = build_engine(weights, device=device)
    photos = validation_images(images, device=engine.device)
    return {profile: evaluate_clips(engine, synthetic_clips(photos, profile, count=clips, seq_len=frames,
                                                            size=EVAL_SIZE)).to_dict()
            for profile in ("shake", "sharp")}


DEFAULT_CANDIDATE = "stfan_synth_v1"  # the name a file meeting the bar ships under (a non-experimental entry)


def final_name(card: dict[str, Any], default: bool) -> str:
    if default:
        return DEFAULT_CANDIDATE
    return f"stfan_synth_s{card['recipe']['totals']['sessions']}"


def main(argv: list[str] | None = None) -> int:
    from ..models.choice import load_weights
    from ..models.weights import save_weights
    from .card import newest_weights
    from .trainer import train

    args = _args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    init = args.init or newest_weights(args.weights_dir or weights_folder())
    if init is None:
        print("error: no weights to continue in weights/ (pass --init)", file=sys.stderr)
        return 2
    size = args.size
    workers = choose_workers(args.workers, args.bench_json, size, args.batch)
    previous_card = read_card(init)
    sessions = previous_card.get("recipe", {}).get("totals", {}).get("sessions", 1)
    run_dir = Path(tempfile.mkdtemp(prefix="stfan-session-"))
    cfg = TrainConfig(images=str(args.images), run_dir=str(run_dir / "run"), steps=10**9, seq_len=args.seq_len,
                      size=size, batch=args.batch, seed=args.seed if args.seed is not None else 1000 + sessions,
                      lr=args.lr, warmup=args.warmup, val_every=0, val_clips=0, ckpt_every=20000, log_every=200,
                      device=args.device, amp=args.amp, fac="reference" if args.safe else args.fac,
                      compile="off" if args.safe else args.compile, channels_last=False if args.safe else None,
                      init_weights=str(init), workers=workers, time_limit=args.seconds)
    print(f"session: continuing {init.name}, {args.seconds:.0f} s at {size[1]}x{size[0]} x {args.batch}, "
          f"workers {workers}, compile {cfg.compile}{', safe recipe' if args.safe else ''}", flush=True)
    started = time.time()
    candidate = args.out / "stfan_synth_candidate.safetensors"  # in OUT at once: kept even if scoring is cut short
    result = train(cfg, export_path=candidate, log=lambda line: print(line, flush=True))
    shutil.copy(run_dir / "run" / "log.jsonl", args.out / "train_log.jsonl")

    print("scoring the new and the previous weights on the same held-out clips", flush=True)
    new = evaluate_file(candidate, args.images, args.device, args.eval_clips, args.eval_frames)
    old = evaluate_file(init, args.images, args.device, args.eval_clips, args.eval_frames)
    verdict = judge({p: r["overall"] for p, r in new.items()}, {p: r["overall"] for p, r in old.items()})
    card = read_card(candidate)
    name = final_name(card, verdict.default)
    card.update(name=name, metrics={p: r["overall"] for p, r in new.items()}, verdict=verdict.to_dict(),
                status="default" if verdict.default else ("experimental: beats the previous file, not the default"
                                                          if verdict.ships else "rejected: " + verdict.summary()))
    card["data"]["validation"] = {"profiles": ["shake", "sharp"], "clips": args.eval_clips,
                                  "frames": args.eval_frames, "size": list(EVAL_SIZE)}
    card["recipe"]["history"][-1]["validation"] = card["metrics"]
    card["recipe"]["history"][-1]["name"] = name
    out_weights = args.out / f"{name}.safetensors"
    sha = save_weights(load_weights(candidate).state_dict, out_weights, card)
    report = {"previous": {"file": init.name, **old}, "new": {"file": out_weights.name, "sha256": sha, **new},
              "verdict": verdict.to_dict(), "train": {"steps": result.step, "throughput": result.throughput,
                                                      "seconds": card["recipe"]["train_seconds"]},
              "totals": card["recipe"]["totals"], "wall_seconds": round(time.time() - started, 1)}
    (args.out / "eval.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    candidate.unlink()
    shutil.rmtree(run_dir, ignore_errors=True)
    print("\n" + _table(old, new, init.name, out_weights.name) + f"\n\n{verdict.summary()}\n"
          f"weights: {out_weights} ({out_weights.stat().st_size / 2**20:.1f} MiB, sha256 {sha[:12]}); "
          f"{result.step} steps, {json.dumps({k: round(v, 2) for k, v in result.throughput.items()})}", flush=True)
    return 0


def _table(old: dict[str, Any], new: dict[str, Any], old_name: str, new_name: str) -> str:
    rows = [f"{'profile':<8} {'input dB':>9} {old_name[:22]:>22} {new_name[:22]:>22} {'new - old':>9}"]
    for profile in ("shake", "sharp"):
        o, n = old[profile]["overall"], new[profile]["overall"]
        rows.append(f"{profile:<8} {n['input_psnr']:9.2f} {o['psnr']:22.2f} {n['psnr']:22.2f} "
                    f"{n['psnr'] - o['psnr']:+9.2f}")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
