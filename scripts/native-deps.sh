#!/usr/bin/env bash
# What the native build (libsoftmig.so, the fake CUDA driver) needs, checked before it starts:
# the CUDA toolkit's headers (cuda.h; nothing else of CUDA), CMake, a C compiler, protoc-c and
# protobuf-c's static library. As root on Debian or Ubuntu, missing packages are installed with
# apt-get, as CI does; otherwise, and for cuda.h always, one line says what to install, exit 1.
#
#   scripts/native-deps.sh             check, install what is missing where allowed
#   SOFTMIG_NO_INSTALL=1 ...           check only
#   SOFTMIG_CUDA_INCLUDE=DIR ...       cuda.h is in DIR (as for CMake)
#   SOFTMIG_PROTOBUF_C_ROOT=DIR ...    protobuf-c in DIR/include and DIR/lib (as for CMake)
#   SOFTMIG_CUDA_SEARCH="D1:D2" ...    where to look for cuda.h instead of the usual places
set -euo pipefail

say() { echo "softmig: $*" >&2; }

# ------------------------------------------------------------------ cuda.h
cuda_dirs() {
	if [[ -n ${SOFTMIG_CUDA_INCLUDE:-} ]]; then
		echo "$SOFTMIG_CUDA_INCLUDE"
		return
	fi
	if [[ -n ${SOFTMIG_CUDA_SEARCH+x} ]]; then
		tr ':' '\n' <<<"$SOFTMIG_CUDA_SEARCH"
		return
	fi
	[[ -n ${CUDA_HOME:-} ]] && echo "$CUDA_HOME/include"
	[[ -n ${CUDA_PATH:-} ]] && echo "$CUDA_PATH/include"
	if command -v nvcc >/dev/null 2>&1; then
		echo "$(dirname "$(readlink -f "$(command -v nvcc)")")/../include"
	fi
	echo /usr/local/cuda/include
	compgen -G "/usr/local/cuda-*/include" || true
	compgen -G "/usr/local/cuda-*/targets/*/include" || true
	echo /usr/include
}

have_cuda_h() {
	local d
	while IFS= read -r d; do
		[[ -n $d && -f $d/cuda.h ]] && return 0
	done < <(cuda_dirs)
	return 1
}

if ! have_cuda_h; then
	say "cuda.h not found: install the CUDA toolkit's headers (NVIDIA's cuda-driver-dev-12-x or cuda-toolkit, or Debian/Ubuntu's nvidia-cuda-dev; only the headers are used) or set SOFTMIG_CUDA_INCLUDE=DIR"
	exit 1
fi

# ------------------------------------------------------------------ tools and protobuf-c
have_protobuf_c() {
	local root=${SOFTMIG_PROTOBUF_C_ROOT:-}
	if [[ -n $root ]]; then
		[[ -f $root/include/protobuf-c/protobuf-c.h && -f $root/lib/libprotobuf-c.a ]]
		return
	fi
	[[ -f /usr/include/protobuf-c/protobuf-c.h ]] && compgen -G "/usr/lib/*/libprotobuf-c.a" >/dev/null ||
		{ [[ -f /usr/include/protobuf-c/protobuf-c.h ]] && [[ -f /usr/lib/libprotobuf-c.a || -f /usr/lib64/libprotobuf-c.a ]]; }
}

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
{ command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1; } || missing+=(build-essential)
[[ -n ${SOFTMIG_PREGENERATED_DIR:-} ]] || command -v protoc-c >/dev/null 2>&1 || missing+=(protobuf-c-compiler)
have_protobuf_c || missing+=(libprotobuf-c-dev)

((${#missing[@]} == 0)) && exit 0

if [[ -z ${SOFTMIG_NO_INSTALL:-} && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
	say "installing the native build's packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	exit 0
fi

if command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then
	rpms=()
	for p in "${missing[@]}"; do
		case $p in
		build-essential) rpms+=(gcc make) ;;
		protobuf-c-compiler) rpms+=(protobuf-c-compiler) ;;
		libprotobuf-c-dev) rpms+=(protobuf-c-devel) ;;
		*) rpms+=("$p") ;;
		esac
	done
	say "the native build needs: dnf install ${rpms[*]} (protobuf-c's static library: set SOFTMIG_PROTOBUF_C_ROOT)"
else
	say "the native build needs: apt-get install ${missing[*]} (as root; run as root, the build installs them itself)"
fi
exit 1
