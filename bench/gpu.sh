#!/usr/bin/env bash
# The GPU checks of issue 5 in ONE call of a lent GPU machine (its device time is scarce: ~15 min per session).
# Run from the repository root there, e.g. with the device tool:
#     run(command="bash bench/gpu.sh", timeout_s=540)
# The machine's image has JAX with CUDA, pytest, hypothesis, scipy, mpmath and optax (no QuTiP: those tests skip).
# Logs and JSON lines go to $OUT (or ./gpu-out); paste the JSON lines into bench/RESULTS.md with the date.
# TESTS and SIZES override the test files and the bench sizes (e.g. a dry run on CPU: SIZES="1e4 1e5").
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 JAXENGINE_ENABLE_X64=1 XLA_PYTHON_CLIENT_MEM_FRACTION=0.9
py=${PYTHON:-python3}
{ nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv; $py -c "import jax; print(jax.__version__, jax.devices())"; } \
  2>&1 | tee "$out/device.txt"
# 1. correctness on the GPU: the fused Triton kernel (its first real run) and the XLA kernel against the dense,
#    QuTiP-free references, with gradients (~3 min; 4 test processes share the GPU, so no preallocation)
XLA_PYTHON_CLIENT_PREALLOCATE=false timeout 240 $py -m pytest -q -n 4 --maxfail=5 -p no:cacheprovider -m "not slow" \
  ${TESTS:-tests/test_fused.py tests/test_kernel.py} 2>&1 | tee "$out/tests.txt" | tail -15
# 2. throughput from 1e6 to 1e8 points with the roofline line; the naive baseline up to 1e6 (~4 min). The largest
#    size is 400 GPU blocks of 2^18 points (>= 1e8, no padded tail: its slice would copy ~40 GB of results).
timeout 300 $py bench/steady_state.py --sizes ${SIZES:-1e6 1e7 1.048576e8} --naive-max 1e6 --qutip 0 \
  --kernels xla fused 2>&1 | tee "$out/bench.jsonl"
