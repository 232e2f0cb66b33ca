#!/usr/bin/env bash
# scripts/native-deps.sh: with everything present it passes quietly; without cuda.h, or without a
# build tool where it may not install, it stops with exit 1 and one line naming what to install.
set -uo pipefail

script="$(cd "$(dirname "$0")/../.." && pwd)/scripts/native-deps.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
check() { # name, command...
	local name=$1
	shift
	if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}

mkdir -p "$work/cuda" "$work/pbc/include/protobuf-c" "$work/pbc/lib" "$work/bin"
touch "$work/cuda/cuda.h" "$work/pbc/include/protobuf-c/protobuf-c.h" "$work/pbc/lib/libprotobuf-c.a"
for t in cmake cc make protoc-c; do # stand-ins: only their presence matters
	printf '#!/bin/sh\nexit 0\n' >"$work/bin/$t"
	chmod +x "$work/bin/$t"
done
for t in bash tr id; do # what the script itself runs
	ln -s "$(command -v "$t")" "$work/bin/$t"
done

run() { # env assignments...; prints stderr to $work/err, returns the exit code
	env -i PATH="$work/bin" SOFTMIG_NO_INSTALL=1 SOFTMIG_PROTOBUF_C_ROOT="$work/pbc" "$@" \
		bash "$script" 2>"$work/err" >"$work/out"
}

run SOFTMIG_CUDA_INCLUDE="$work/cuda"
check "all present: exit 0" test $? -eq 0
check "all present: nothing said" test ! -s "$work/err"

run SOFTMIG_CUDA_SEARCH="$work/none"
check "no cuda.h: exit 1" test $? -eq 1
check "no cuda.h: one line" test "$(wc -l <"$work/err")" -eq 1
check "no cuda.h: names the headers to install" grep -q "cuda.h not found: install the CUDA toolkit's headers" "$work/err"

rm "$work/bin/cmake" "$work/bin/protoc-c"
run SOFTMIG_CUDA_INCLUDE="$work/cuda"
check "no cmake, no protoc-c: exit 1" test $? -eq 1
check "no cmake, no protoc-c: one line" test "$(wc -l <"$work/err")" -eq 1
check "no cmake, no protoc-c: names both packages" grep -q "install cmake protobuf-c-compiler" "$work/err"

run SOFTMIG_CUDA_INCLUDE="$work/cuda" SOFTMIG_PROTOBUF_C_ROOT="$work/none"
check "no protobuf-c library: named" grep -q "libprotobuf-c-dev" "$work/err"

((fails == 0))
