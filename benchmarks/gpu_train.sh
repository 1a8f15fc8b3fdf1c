#!/usr/bin/env bash
# The prepared GPU call that advances the weights: bench the training path, continue the newest
# weights in weights/ for TRAIN_SECONDS, score new and previous on both held-out profiles, judge.
# Called by `benchmarks/gpu_session.sh train`; prepare the upload first with
# `benchmarks/prepare_gpu_upload.sh` (photos and fallback wheels in .gpu/, carried).
#
# Writes to $OUT (at most 8 files come back from a lent machine):
#   env.txt  bench_train.txt  bench_train.json  train.log  train_log.jsonl  eval.json  <weights>.safetensors
# Knobs (environment): IMAGES (.gpu/train-images), TRAIN_SECONDS (360), TRAIN_SIZE (256x256),
# TRAIN_BATCH (32), SEQ_LEN (4), WORKERS (auto: the bench's best), COMPILE (off), BENCH (1), DEVICE (cuda),
# EVAL_CLIPS (16 per profile), EVAL_FRAMES (6).
# Budget on a 15-minute lease: machine start ~1-2 min; this script ~TRAIN_SECONDS + 3 min (bench ~1.5 min,
# start-up, export and scoring ~1 min): run it with timeout_s 580.
set -u -o pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
IMAGES=${IMAGES:-.gpu/train-images}
DEVICE=${DEVICE:-cuda}
SECONDS_=${TRAIN_SECONDS:-360}
SIZE=${TRAIN_SIZE:-256x256}
BATCH=${TRAIN_BATCH:-32}
step() { echo "== $(date +%T) $*"; }

# Wheels only for modules the machine lacks (the lent H200 image has them all; PyAV is never needed here).
for pair in safetensors:safetensors click:click rich:rich markdown_it:markdown_it_py mdurl:mdurl \
            pygments:pygments imageio:imageio PIL:pillow; do
  module=${pair%%:*} wheel=${pair##*:}
  if ! python3 -c "import $module" 2>/dev/null && ls .gpu/wheels/"$wheel"-*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site-train \
      .gpu/wheels/"$wheel"-*.whl && echo "installed $wheel from .gpu/wheels"
  fi
done
[ -d /tmp/site-train ] && export PYTHONPATH=/tmp/site-train:${PYTHONPATH:-}
export PYTHONPATH=$PWD:${PYTHONPATH:-}

{ nvidia-smi -L; python3 -c "import sys, torch, triton; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__)"
  python3 -c "import sys; sys.modules['av'] = None; import deblur_cli.training.session; print('training path imports without PyAV')"
  ls "$IMAGES" | wc -l | sed 's/$/ photos/'; } 2>&1 | tee "$OUT/env.txt"

if [ "${BENCH:-1}" = 1 ]; then
  step "training throughput: rendered on the GPU, batch $BATCH and 64; then $BATCH with 12 CPU workers"
  { timeout 100 python3 benchmarks/bench_train.py --device "$DEVICE" --size "$SIZE" --batch "$BATCH,64" --workers 0 \
      --batches 6 --warmup 3 --images "$IMAGES" --json "$OUT/bench_train.json"
    timeout 70 python3 benchmarks/bench_train.py --device "$DEVICE" --size "$SIZE" --batch "$BATCH" --workers 12 \
      --batches 3 --warmup 1 --images "$IMAGES" --json /tmp/bench_workers.json
    python3 - "$OUT/bench_train.json" /tmp/bench_workers.json <<'EOF'
import json, sys
rows = []
for path in sys.argv[1:]:
    try:
        rows += json.load(open(path))["results"]
    except (OSError, ValueError):
        pass
json.dump({"results": rows}, open(sys.argv[1], "w"), indent=2)
EOF
  } 2>&1 | tee "$OUT/bench_train.txt"
fi

step "train for $SECONDS_ s, then score and judge"
timeout $(( ${SECONDS_%.*} + 200 )) python3 -m deblur_cli.training.session --out "$OUT" --images "$IMAGES" \
  --seconds "$SECONDS_" --size "$SIZE" --batch "$BATCH" --seq-len "${SEQ_LEN:-4}" --workers "${WORKERS:-auto}" \
  --bench-json "$OUT/bench_train.json" --compile "${COMPILE:-off}" --device "$DEVICE" \
  --eval-clips "${EVAL_CLIPS:-16}" --eval-frames "${EVAL_FRAMES:-6}" 2>&1 | tee "$OUT/train.log"
status=$?
step "done (session exit $status)"
ls -la "$OUT"
exit $status
