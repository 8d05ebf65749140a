#!/usr/bin/env bash
# lamina's GPU path in one prepared run, under 10 minutes on one H100-class GPU: each stage has a time limit and
# the limits add up to 9.5 minutes. It stops at the first failure and fails at once without a CUDA device.
#
#   1. the device: nvidia-smi and what torch sees
#   2. the suite's CUDA tests: pytest -m cuda (tests/train/test_cuda.py: fp32, bf16 and fp16 runs learn on
#      the GPU, and their run folders predict alike on the GPU and the CPU)
#   3. fp32, bf16 and fp16 training of the digits CNN (lamina's loop) and of a character GPT
#      (benchmarks/gpu_precision.py), each with a bar it must reach
#   4. DistributedDataParallel with one process over nccl (benchmarks/gpu_ddp.py), and `lamina train`
#      started by torchrun with one process on the GPU
#   5. the character GPT at 6 layers x 6 heads x 384, context 256, batch 64, bf16, 2,000 steps, lamina against
#      a hand-written loop: ms/step, tokens/s and the share of the GPU's bf16 peak (benchmarks/gpu_char_lm.py)
#
# Usage, from anywhere (PYTHON: an interpreter with a CUDA build of torch and lamina's dependencies;
# TEXT: tinyshakespeare.txt, by default the shared copy beside the repository):
#   bash benchmarks/gpu_check.sh 2>&1 | tee gpu_check.log
#   bash benchmarks/gpu_check.sh --cpu-dry-run    # every stage tiny and on the CPU: shows the script works here
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
TEXT=${TEXT:-$ROOT/../shared/data/tinyshakespeare.txt}
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
WORK=$(mktemp -d -t lamina-gpu-check-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

DRY=0
case "${1:-}" in
  --cpu-dry-run) DRY=1 ;;
  "") ;;
  *) echo "error: unknown option ${1}; the only one is --cpu-dry-run" >&2; exit 2 ;;
esac
[ -f "$TEXT" ] || { echo "error: $TEXT not found; set TEXT to tinyshakespeare.txt" >&2; exit 2; }

stage() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }
SCALE=$([ "$DRY" = 1 ] && echo 5 || echo 1)  # a shared CPU is slow: the dry run's limits are 5x
limit() { local seconds=$1; shift; timeout "$((seconds * SCALE))" "$@"; }  # limit SECONDS COMMAND...

stage "1. device"
if [ "$DRY" = 1 ]; then
  DEVICE=cpu
  echo "dry run on the CPU: the CUDA tests are skipped, stages 3 to 5 run tiny or short, the timings mean nothing"
else
  DEVICE=cuda
  "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' || {
    echo "error: torch sees no CUDA device (torch $("$PYTHON" -c 'import torch; print(torch.__version__)'))." \
         "This check needs a GPU and a CUDA build of torch; use --cpu-dry-run to test the script itself." >&2
    exit 1
  }
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
"$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device")'

stage "2. the suite's CUDA tests (pytest -m cuda)"
limit 120 "$PYTHON" -m pytest -q -m cuda tests -p no:cacheprovider -rs  # on the CPU: collected, all skipped

stage "3. fp32, bf16 and fp16 training: digits CNN and character GPT"
if [ "$DRY" = 1 ]; then
  limit 150 "$PYTHON" benchmarks/gpu_precision.py --device cpu --dry-run --text "$TEXT"
else
  limit 150 "$PYTHON" benchmarks/gpu_precision.py --device cuda --text "$TEXT"
fi

stage "4. DistributedDataParallel with one process"
EPOCHS=$([ "$DRY" = 1 ] && echo 1 || echo 8)  # lamina train's; the DDP check takes 8 everywhere (a second on a CPU)
limit 60 "$PYTHON" -m torch.distributed.run --standalone --nproc-per-node=1 \
  benchmarks/gpu_ddp.py --device "$DEVICE" --epochs 8
limit 90 "$PYTHON" -m torch.distributed.run --standalone --nproc-per-node=1 -m lamina.cli train \
  examples/digits_cnn.yaml --set "runs_dir=$WORK/runs" --set "train.device=$DEVICE" --set "train.epochs=$EPOCHS" \
  --set train.tensorboard=false --progress plain
"$PYTHON" - "$WORK/runs" "$DRY" <<'EOF'
import json, sys
from pathlib import Path
summary = json.loads(next(Path(sys.argv[1]).glob("*/summary.json")).read_text())
accuracy, dry = summary["test"]["accuracy"], sys.argv[2] == "1"
print(f"lamina train under torchrun: processes {summary['processes']}, test accuracy {accuracy:.4f}")
if summary["processes"] != 1 or (accuracy < 0.95 and not dry):
    sys.exit("error: lamina train under torchrun did not write a one-process run reaching 0.95")
EOF

stage "5. character GPT 6 x 6 x 384, context 256: lamina against a hand-written loop"
if [ "$DRY" = 1 ]; then
  limit 150 "$PYTHON" benchmarks/gpu_char_lm.py --device cpu --size tiny --steps 4 --chunk 2 --text "$TEXT"
else
  limit 150 "$PYTHON" benchmarks/gpu_char_lm.py --device cuda --steps 2000 --text "$TEXT"
fi

stage "all stages passed"
