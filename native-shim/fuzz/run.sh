#!/bin/bash
# run.sh - builds the shim's libFuzzer targets with clang (ASan + UBSan) into
# native-shim/build-fuzz and runs each one: first its corpus (seeds and every past finding,
# fuzz/corpus/<target>/), then new inputs for a bounded time.
#
#   native-shim/fuzz/run.sh [--seconds N] [--runs N] [TARGET...]
#     --seconds N   fuzz each target for N seconds (default 5, as in `mvn verify`)
#     --runs N      or stop after N inputs (e.g. 1000000 for the figures in docs/BENCHMARKS.md)
#
# Without clang and its libFuzzer runtime (Debian: clang, libclang-rt-14-dev) it says so and
# exits 0, so that a build on a machine without them still passes; .ci/run installs them.
# A crash leaves its input as build-fuzz/fuzz/<target>-crash-*: add it to
# fuzz/corpus/<target>/ (and a case to the unit tests) once fixed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$here/build-fuzz
seconds=5
runs=-1
targets=()
while (($#)); do
	case $1 in
	--seconds) seconds=$2; shift 2 ;;
	--runs) runs=$2; seconds=0; shift 2 ;;
	-h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) targets+=("$1"); shift ;;
	esac
done
[[ $seconds =~ ^[0-9]+$ && $runs =~ ^-?[0-9]+$ ]] || { echo "run.sh: --seconds and --runs take numbers" >&2; exit 2; }

cc=${SOFTMIG_FUZZ_CC:-clang}
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$probe/p.c"
if ! command -v "$cc" >/dev/null 2>&1 ||
	! "$cc" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
	echo "SKIP: fuzzing needs clang with libFuzzer (apt-get install clang libclang-rt-14-dev)"
	exit 0
fi

CC=$cc cmake -S "$here" -B "$build" -DSOFTMIG_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
	-DSOFTMIG_FUZZ_SECONDS="$seconds" -DSOFTMIG_FUZZ_RUNS="$runs" >"$build.log" 2>&1 ||
	{ cat "$build.log"; exit 1; }
cmake --build "$build" --target softmig_fuzzers -j "${SOFTMIG_FUZZ_JOBS:-2}" >>"$build.log" 2>&1 ||
	{ cat "$build.log"; exit 1; }
filter=()
if ((${#targets[@]})); then
	filter=(-R "^($(IFS='|'; echo "${targets[*]}"))\$")
fi
ctest --test-dir "$build" -L fuzz "${filter[@]}" --output-on-failure
