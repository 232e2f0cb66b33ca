#!/usr/bin/env bash
#
# gpu-suite.sh: softmig's GPU tests and benchmarks on a real GPU node.
#
#   scripts/gpu-suite.sh --out DIR [--bundle FILE] [--only AREA[:KEY+KEY],...] [--quick]
#                        [--reps N] [--seconds N] [--work DIR] [--budget SECONDS] [--fake]
#                        [--dry-run]
#
# Builds the shim (CMake) and the test programs (nvcc, gcc) on this machine,
# starts the coordinator on the real GPU (NVML) for each phase, runs the areas of
# scripts/gpusuite (memory, compute, nvml, multigpu, mps), and writes DIR/results.json,
# DIR/summary.txt, DIR/summary.md, DIR/suite.log, DIR/coordinator.log and DIR/shim.log.
# A node without Java or protobuf-c uses the bundle made by scripts/make-gpu-bundle.sh.
# Every step runs under `timeout`; no step starts near --budget seconds (default 540).
# Exits 0 once results are written, 1 when the setup itself failed (the reason is in
# DIR/results.json and DIR/suite.log), 2 for a bad argument.  --dry-run lists the steps
# and stops (no build, no GPU).
#
# --fake is a dry run for machines without a GPU: programs run on the fake CUDA
# driver (native-shim/build/fake-cuda/libcuda.so.1) and the coordinator on
# --simulate GPUs.  See docs/GPU-SUITE.md.

set -uo pipefail

# How the coordinator is told to kill unmanaged processes: the option, when
# `coordinator --help` lists it, else this line in a node config file (--config).
UNMANAGED_POLICY_FLAG="--unmanaged-policy kill"
UNMANAGED_POLICY_CONFIG="softmig.unmanaged-policy = kill"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMMAND="scripts/gpu-suite.sh $*"
OUT=""
BUNDLE="$ROOT/.gpu-bundle/softmig-gpu-bundle.tar.xz"
ONLY=""
QUICK=""
REPS=1
SECONDS_PER_RUN=""
WORK="${TMPDIR:-/tmp}/softmig-gpu-suite"
BUDGET=540
FAKE=""
DRY_RUN=""

usage() {
	sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--out) OUT="${2:?--out needs a directory}"; shift 2 ;;
	--bundle) BUNDLE="${2:?--bundle needs a file}"; shift 2 ;;
	--only) ONLY="${2:?--only needs a list}"; shift 2 ;;
	--quick) QUICK=1; shift ;;
	--reps) REPS="${2:?--reps needs a number}"; shift 2 ;;
	--dry-run) DRY_RUN=1; shift ;;
	--seconds) SECONDS_PER_RUN="${2:?--seconds needs a number}"; shift 2 ;;
	--work) WORK="${2:?--work needs a directory}"; shift 2 ;;
	--budget) BUDGET="${2:?--budget needs seconds}"; shift 2 ;;
	--fake) FAKE=1; shift ;;
	-h | --help) usage ;;
	*) echo "gpu-suite.sh: unknown argument '$1'" >&2; usage ;;
	esac
done
case ",$ONLY," in
*[!a-z0-9_:+,]*) echo "gpu-suite.sh: --only takes a comma list of AREA or AREA:KEY+KEY" >&2; exit 2 ;;
esac
case "$REPS" in
'' | *[!0-9]* | 0) echo "gpu-suite.sh: --reps takes a number >= 1" >&2; exit 2 ;;
esac

# the runner: the package scripts/gpusuite
RUNNER=(env "PYTHONPATH=$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" python3 -m gpusuite)
if [ -n "$DRY_RUN" ]; then
	args=(--dry-run --budget "$BUDGET" --reps "$REPS")
	[ -n "$ONLY" ] && args+=(--only "$ONLY")
	[ -n "$QUICK" ] && args+=(--quick)
	[ -n "$SECONDS_PER_RUN" ] && args+=(--seconds "$SECONDS_PER_RUN")
	"${RUNNER[@]}" "${args[@]}"
	exit $?
fi
[ -n "$OUT" ] || usage

START=$(date +%s)
DEADLINE=$((START + BUDGET))
mkdir -p "$OUT" "$WORK" || exit 1
OUT=$(cd "$OUT" && pwd)
WORK=$(cd "$WORK" && pwd)
BIN="$WORK/bin"
BUILD="$ROOT/native-shim/build"
exec > >(tee -a "$OUT/suite.log") 2>&1

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*"; }

left() { echo $((DEADLINE - $(date +%s))); }

# Writes a results.json that says why the setup failed, and stops.
setup_failed() {
	log "SETUP FAILED: $*"
	python3 - "$OUT/results.json" "$*" <<'PY' || true
import json, sys, time
path, why = sys.argv[1], sys.argv[2]
doc = {"meta": {"suite": "softmig-gpu-suite", "format": 1, "setup_failed": why,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
       "checks": [{"part": "suite", "name": "setup", "pass": False, "value": why,
                   "target": "ok", "unit": ""}], "runs": {}}
json.dump(doc, open(path, "w"), indent=1)
PY
	exit 1
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	local pid
	if [ -f "$WORK/coordinator.pid" ]; then
		pid=$(cat "$WORK/coordinator.pid")
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			log "stopping coordinator $pid"
			kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
			sleep 2
			kill -KILL -- "-$pid" 2>/dev/null || true
		fi
		rm -f "$WORK/coordinator.pid"
	fi
	# MPS control daemons of the mps phase (gpusuite/core.py MPS_BASE_DIR), if the runner
	# could not quit them itself
	local d
	for d in /tmp/softmig-suite-mps/*/pipe; do
		[ -d "$d" ] || continue
		log "quitting the MPS control daemon of $d"
		echo quit | CUDA_MPS_PIPE_DIRECTORY="$d" timeout 15 nvidia-cuda-mps-control >/dev/null 2>&1
	done
	rm -rf /tmp/softmig-suite-mps
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

log "softmig GPU suite: out=$OUT work=$WORK budget=${BUDGET}s${FAKE:+ (fake driver)}"
command -v python3 >/dev/null || setup_failed "python3 is missing"
command -v cmake >/dev/null || setup_failed "cmake is missing"

# ---------------------------------------------------------------- the bundle

BUNDLE_DIR=""
if [ -f "$BUNDLE" ]; then
	log "unpacking $BUNDLE"
	rm -rf "$WORK/bundle"
	mkdir -p "$WORK/bundle" || setup_failed "cannot create $WORK/bundle"
	timeout 120 tar -xJf "$BUNDLE" -C "$WORK/bundle" || setup_failed "cannot unpack $BUNDLE"
	BUNDLE_DIR="$WORK/bundle/softmig-gpu-bundle"
	[ -f "$BUNDLE_DIR/MANIFEST.txt" ] && sed 's/^/  bundle: /' "$BUNDLE_DIR/MANIFEST.txt"
fi

java_ok() {
	local v
	v=$("$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
	[ -n "$v" ] && [ "$v" -ge 17 ]
}
JAVA=""
if command -v java >/dev/null && java_ok java; then
	JAVA=$(command -v java)
elif [ -n "$BUNDLE_DIR" ] && [ -x "$BUNDLE_DIR/jre/bin/java" ]; then
	JAVA="$BUNDLE_DIR/jre/bin/java"
else
	setup_failed "no Java 17+ here and no bundle at $BUNDLE (make one with scripts/make-gpu-bundle.sh)"
fi
JAR="$ROOT/coordinator/target/softmig.jar"
if [ ! -f "$JAR" ]; then
	JAR="$BUNDLE_DIR/softmig.jar"
	if [ -z "$BUNDLE_DIR" ] || [ ! -f "$JAR" ]; then
		setup_failed "no coordinator/target/softmig.jar and no bundle"
	fi
fi
log "java: $JAVA ($("$JAVA" -version 2>&1 | head -1)); jar: $JAR"

# --------------------------------------------------------------- build: shim

CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
NVCC="$CUDA_HOME/bin/nvcc"
[ -x "$NVCC" ] || NVCC=$(command -v nvcc || true)
[ -n "$NVCC" ] || setup_failed "nvcc not found (set CUDA_HOME)"

cmake_args=(-S "$ROOT/native-shim" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release)
if [ ! -f /usr/include/protobuf-c/protobuf-c.h ] && [ -n "$BUNDLE_DIR" ]; then
	cmake_args+=("-DSOFTMIG_PROTOBUF_C_ROOT=$BUNDLE_DIR/protobuf-c")
fi
if ! command -v protoc-c >/dev/null && [ -n "$BUNDLE_DIR" ]; then
	cmake_args+=("-DSOFTMIG_PREGENERATED_DIR=$BUNDLE_DIR/pregenerated")
fi
if [ -d "$CUDA_HOME/include" ]; then
	cmake_args+=("-DSOFTMIG_CUDA_INCLUDE=$CUDA_HOME/include")
fi

build_shim() {
	log "building the shim: cmake ${cmake_args[*]}"
	timeout 120 cmake "${cmake_args[@]}" >"$WORK/cmake-configure.log" 2>&1 || {
		tail -30 "$WORK/cmake-configure.log"
		return 1
	}
	# test programs may fail to build on a given toolkit; the library is what counts
	timeout 240 cmake --build "$BUILD" -j "$(nproc)" >"$WORK/cmake-build.log" 2>&1 ||
		tail -30 "$WORK/cmake-build.log"
	[ -f "$BUILD/libsoftmig.so" ]
}

# ------------------------------------------------------------ build: programs

gpu_arch() {
	local cap
	cap=$(timeout 20 nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null |
		head -1 | tr -d ' .')
	case "$cap" in
	[0-9][0-9] | [0-9][0-9][0-9]) echo "$cap" ;;
	*) echo 90 ;;
	esac
}

build_programs() {
	local arch cflags libdirs=() d
	arch=$(gpu_arch)
	mkdir -p "$BIN"
	cflags=(-std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I"$CUDA_HOME/include")
	if [ -n "$FAKE" ]; then
		libdirs=(-L"$BUILD/fake-cuda")
	else
		for d in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 \
			"$CUDA_HOME/lib64/stubs" "$CUDA_HOME"/targets/*/lib/stubs; do
			if [ -e "$d/libcuda.so" ]; then
				libdirs+=(-L"$d")
				break
			fi
		done
	fi
	local libcuda=(-lcuda)
	if [ ${#libdirs[@]} -eq 0 ]; then
		# no libcuda.so link name anywhere: link the driver's libcuda.so.1 itself
		d=$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 / { print $NF; exit }')
		[ -n "$d" ] && libcuda=("$d")
	fi
	log "building test programs (sm_$arch) into $BIN"
	timeout 180 "$NVCC" -fatbin -gencode "arch=compute_$arch,code=sm_$arch" \
		-gencode "arch=compute_$arch,code=compute_$arch" \
		-o "$BIN/kernels.fatbin" "$ROOT/bench/gpu/kernels.cu" &
	local p_fatbin=$!
	timeout 180 "$NVCC" -O2 -std=c++17 -o "$BIN/memtest_rt" "$ROOT/bench/gpu/memtest_rt.cu" &
	local p_rt=$!
	local ok=0
	for prog in memtest spin startup memfree memsources; do
		timeout 60 gcc "${cflags[@]}" -o "$BIN/$prog" "$ROOT/bench/gpu/$prog.c" \
			"${libdirs[@]}" "${libcuda[@]}" -lm -ldl || ok=1
	done
	wait "$p_fatbin" || ok=1
	wait "$p_rt" || ok=1
	return $ok
}

if [ -n "$FAKE" ]; then
	# the fake driver is built by the shim's CMake; build the shim first
	build_shim || setup_failed "the shim did not build (see $WORK/cmake-*.log)"
	build_programs || setup_failed "the test programs did not build"
else
	build_shim &
	shim_pid=$!
	build_programs || setup_failed "the test programs did not build"
	wait "$shim_pid" || setup_failed "the shim did not build (see $WORK/cmake-*.log)"
fi
log "built in $(($(date +%s) - START))s; $(left)s left"

# ------------------------------------------------------------------- the run

runner_args=(--out "$OUT" --work "$WORK" --bin-dir "$BIN" --py-dir "$ROOT/bench/gpu/py"
	--shim "$BUILD/libsoftmig.so" --java "$JAVA" --jar "$JAR"
	--deadline "$((DEADLINE - 20))" --unmanaged-flag "$UNMANAGED_POLICY_FLAG"
	--unmanaged-config "$UNMANAGED_POLICY_CONFIG"
	--command "$COMMAND" --reps "$REPS")
[ -n "$ONLY" ] && runner_args+=(--only "$ONLY")
[ -n "$QUICK" ] && runner_args+=(--quick)
[ -n "$SECONDS_PER_RUN" ] && runner_args+=(--seconds "$SECONDS_PER_RUN")
[ -n "$FAKE" ] && runner_args+=(--fake --fake-cuda "$BUILD/fake-cuda/libcuda.so.1")

runner_limit=$(($(left) - 5))
[ "$runner_limit" -gt 30 ] || setup_failed "no time left for the tests after the build"
log "running the parts (limit ${runner_limit}s)"
timeout --signal=TERM --kill-after=15 "$runner_limit" "${RUNNER[@]}" "${runner_args[@]}"
rc=$?
[ "$rc" -eq 0 ] || log "the runner exited $rc (results so far are in $OUT/results.json)"
if [ -f "$OUT/results.json" ]; then
	timeout 30 python3 "$ROOT/scripts/summarize-gpu-results.py" "$OUT/results.json" \
		>"$OUT/summary.md" 2>&1 && log "summary: $OUT/summary.md"
fi
log "done in $(($(date +%s) - START))s; results in $OUT/results.json"
sleep 1 # let tee write the last lines of suite.log
exit 0
