#!/usr/bin/env bash
# Issue 12's GPU checks as one script, for a session lent a CUDA device (run from the repository root with
# a Python whose torch has CUDA and the test extras installed): the CUDA tests (no host sync between
# flushes under torch.cuda.set_sync_debug_mode("error"); float16 autocast + GradScaler statistics), then
# the overhead benchmark on the GPU (goal ≤ 1.05× every step), which ends with its own sync check.
set -u
PY=${PYTHON:-python}
status=0
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
$PY -m pytest -q -p no:cacheprovider -rs \
    "tests/probes/test_probes_watch.py::test_no_cuda_sync_between_flushes" \
    "tests/integrations/test_integrations_compile_amp.py::test_float16_autocast_with_grad_scaler_records_unscaled_delta" \
    || status=$?
$PY benchmarks/overhead.py --device cuda --reps 5 --modes every=1,every=16,default --threads 4 || status=$?
exit $status  # (the benchmark runs even when a test failed; the script fails if either did)
