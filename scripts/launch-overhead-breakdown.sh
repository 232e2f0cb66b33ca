#!/usr/bin/env bash
#
# launch-overhead-breakdown.sh: where libsoftmig.so's cost per kernel launch goes, on a GPU node.
#
#   scripts/launch-overhead-breakdown.sh [--bundle FILE] [--seconds N] [--work DIR]
#
# Runs bench/gpu/spin.c's empty-kernel loop (the GPU suite's launch_overhead workload) five
# ways and prints the launch rate of each: bare; shim preloaded but disabled (SOFTMIG_DISABLE=1:
# the cost of interposition alone); shim with no coordinator (the gate is open); shim holding an
# open-ended lease (coordinator, policy share, job alone); shim holding 20 ms leases (policy cap,
# job at 99 %). Uses the bundle of scripts/make-gpu-bundle.sh when java or protobuf-c is missing.
# Run it as root: the shim honours SOFTMIG_DISABLE only for root, and trusts only a coordinator
# socket owned by root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUNDLE="$ROOT/.gpu-bundle/softmig-gpu-bundle.tar.xz"
SECS=3
WORK=${TMPDIR:-/tmp}/softmig-overhead
while [ $# -gt 0 ]; do
	case "$1" in
	--bundle) BUNDLE=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	*) sed -n '3,12p' "$0"; exit 2 ;;
	esac
done
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
mkdir -p "$WORK"
JAVA=$(command -v java || true)
cmake_extra=()
if [ -z "$JAVA" ] || ! command -v protoc-c >/dev/null; then
	tar -xJf "$BUNDLE" -C "$WORK"
	B=$(ls -d "$WORK"/softmig-gpu-bundle)
	[ -n "$JAVA" ] || JAVA="$B/jre/bin/java"
	JAR="$B/softmig.jar"
	command -v protoc-c >/dev/null || cmake_extra=(-DSOFTMIG_PROTOBUF_C_ROOT="$B/protobuf-c" -DSOFTMIG_PREGENERATED_DIR="$B/pregenerated")
else
	JAR="$ROOT/coordinator/target/softmig.jar"
fi
cmake -S "$ROOT/native-shim" -B "$WORK/shim" -DCMAKE_BUILD_TYPE=Release -DSOFTMIG_CUDA_INCLUDE="$CUDA_HOME/include" "${cmake_extra[@]}" >"$WORK/cmake.log" 2>&1
cmake --build "$WORK/shim" -j8 --target softmig >>"$WORK/cmake.log" 2>&1
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
"$CUDA_HOME/bin/nvcc" -fatbin -gencode "arch=compute_$arch,code=sm_$arch" -o "$WORK/kernels.fatbin" "$ROOT/bench/gpu/kernels.cu"
libcuda=$(ldconfig -p | awk '/libcuda\.so\.1 / { print $NF; exit }')
gcc -std=c11 -D_GNU_SOURCE -O2 -I"$CUDA_HOME/include" -o "$WORK/spin" "$ROOT/bench/gpu/spin.c" "$libcuda" -lm
SHIM="$WORK/shim/libsoftmig.so"
spin() { timeout 60 "$WORK/spin" --fatbin "$WORK/kernels.fatbin" --kernel empty --path launch --seconds "$SECS" --batch 256 --depth 8 --label "$1" | tail -1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%-28s %10.0f launches/s" % (d["label"], d["launch_rate"]))'; }
coordinator() {
	"$JAVA" -jar "$JAR" coordinator --socket "$WORK/s.sock" --config-dir "$WORK" --sm-policy "$1" >"$WORK/coordinator-$1.log" 2>&1 &
	COORD=$!
	for _ in $(seq 1 100); do [ -S "$WORK/s.sock" ] && "$JAVA" -jar "$JAR" status --socket "$WORK/s.sock" >/dev/null 2>&1 && return; sleep 0.2; done
}
stop() { kill "$COORD" 2>/dev/null; wait "$COORD" 2>/dev/null || true; rm -f "$WORK/s.sock"; }
trap 'kill "${COORD:-}" 2>/dev/null || true' EXIT
export SOFTMIG_JOB_ID=overhead SOFTMIG_LOG_FILE="$WORK/shim.log"
spin bare
SOFTMIG_DISABLE=1 LD_PRELOAD=$SHIM spin shim-disabled
SOFTMIG_SOCKET=$WORK/absent.sock LD_PRELOAD=$SHIM spin shim-no-coordinator
coordinator share
SOFTMIG_SOCKET=$WORK/s.sock LD_PRELOAD=$SHIM spin shim-open-ended-lease
stop
coordinator cap
SOFTMIG_SOCKET=$WORK/s.sock CUDA_DEVICE_SM_LIMIT=99 LD_PRELOAD=$SHIM spin shim-20ms-leases-cap99
stop
spin bare-again
