#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one run: the CUDA parity tests, the nccl distributed-training test, the
# GPU plan (bench_cuda.py: batch 1/8/32/128 at 256 and 1024 patches, fp32 with TF32 off and on, bf16; SDPA kernel,
# peak memory and accuracy of each) and the model benchmark against transformers. Run from the repository root on a
# machine with a GPU and the test extras installed:
#     bash tests/benchmarks/gpu_checks.sh [OUT_DIR]        # logs go to OUT_DIR (default: gpu_checks/)
set -u
out=${1:-${OUT:-gpu_checks}}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
python -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())" | tee -a "$out/gpu.txt"
python -m pytest -q -rs tests/test_cuda.py tests/test_ddp_training.py tests/test_device.py 2>&1 | tee "$out/tests.txt"
python tests/benchmarks/bench_cuda.py 2>&1 | tee "$out/bench_cuda_plan.txt"
python tests/benchmarks/bench_model.py --device cuda --skip-memory --repeats 5 --batches 8 32 2>&1 | tee "$out/bench_cuda.txt"
