#!/usr/bin/env bash
# The prepared GPU call that advances the weights: bench the training path, continue the newest
# weights in weights/ for TRAIN_SECONDS, score new and previous on both held-out profiles, judge.
# Called by `benchmarks/gpu_session.sh train`; prepare the upload first with
# `benchmarks/prepare_gpu_upload.sh` (photos and fallback wheels in .gpu/, carried).
#
# Writes to $OUT (at most 8 files come back from a lent machine):
#   env.txt  bench_train.txt  bench_train.json  train.log  train_log.jsonl  eval.json  <weights>.safetensors
# Knobs (environment): CALL_SECONDS (570: the whole script ends by then), IMAGES (.gpu/train-images),
# TRAIN_SECONDS (auto: what the call leaves after the bench and 150 s for scoring), TRAIN_SIZE (256x256),
# TRAIN_BATCH (32), SEQ_LEN (4), WORKERS (auto: the bench's best), COMPILE (off), BENCH (1), DEVICE (cuda),
# EVAL_CLIPS (16 per profile), EVAL_FRAMES (6).
# Budget on a 15-minute lease: machine start ~1-2 min, then this script, which ends within CALL_SECONDS
# (bench ~1.5 min, training, ~1-2 min for start-up, export and scoring): run it with timeout_s 590.
set -u -o pipefail
DEADLINE=$(( $(date +%s) + ${CALL_SECONDS:-570} ))  # everything, scoring included, ends by then
left() { echo $(( DEADLINE - $(date +%s) )); }
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
IMAGES=${IMAGES:-.gpu/train-images}
DEVICE=${DEVICE:-cuda}
TAIL=${TAIL_SECONDS:-150}  # seconds kept for the session's start-up, export and scoring of both files
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
  { timeout 75 python3 benchmarks/bench_train.py --device "$DEVICE" --size "$SIZE" --batch "$BATCH,64" --workers 0 \
      --batches 6 --warmup 3 --images "$IMAGES" --json "$OUT/bench_train.json"
    timeout 50 python3 benchmarks/bench_train.py --device "$DEVICE" --size "$SIZE" --batch "$BATCH" --workers 12 \
      --batches 2 --warmup 1 --images "$IMAGES" --json /tmp/bench_workers.json
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

session() {  # $1: seconds of training; more arguments go to the session
  local seconds=$1; shift
  timeout $(( $(left) - 5 )) python3 -m deblur_cli.training.session --out "$OUT" --images "$IMAGES" \
    --seconds "$seconds" --size "$SIZE" --batch "$BATCH" --seq-len "${SEQ_LEN:-4}" --workers "${WORKERS:-auto}" \
    --bench-json "$OUT/bench_train.json" --compile "${COMPILE:-off}" --device "$DEVICE" \
    --eval-clips "${EVAL_CLIPS:-16}" --eval-frames "${EVAL_FRAMES:-6}" "$@"
}
SECONDS_=${TRAIN_SECONDS:-$(( $(left) - TAIL ))}
[ "${SECONDS_%.*}" -gt $(( $(left) - TAIL )) ] && SECONDS_=$(( $(left) - TAIL ))
[ "${SECONDS_%.*}" -lt 30 ] && SECONDS_=30  # the call is nearly spent: a short session still scores and judges
step "train for $SECONDS_ s, then score and judge ($(left) s left in the call)"
session "$SECONDS_" 2>&1 | tee "$OUT/train.log"
status=$?
if [ $status != 0 ] && [ $(( $(left) - TAIL )) -gt 60 ] && ! ls "$OUT"/*.safetensors >/dev/null 2>&1; then
  # The fast path broke on this machine: train what time is left with the safe recipe.
  step "session failed (exit $status): retrying for $(( $(left) - TAIL )) s with the safe recipe (reference FAC, NCHW)"
  session "$(( $(left) - TAIL ))" --safe 2>&1 | tee -a "$OUT/train.log"
  status=$?
fi
step "done (session exit $status)"
ls -la "$OUT"
exit $status
