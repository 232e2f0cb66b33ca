#!/usr/bin/env bash
#
# make-gpu-bundle.sh: packs what a bare GPU node lacks to run scripts/gpu-suite.sh.
#
#   mvn -o -q -B -DskipTests package      # first: builds coordinator/target/softmig.jar
#   scripts/make-gpu-bundle.sh [DIR]      # writes DIR/softmig-gpu-bundle.tar.xz (default .gpu-bundle/)
#
# The bundle holds, under softmig-gpu-bundle/:
#   jre/                     a Java runtime made with jlink (only the modules the coordinator needs)
#   softmig.jar              the coordinator fat jar, re-stored uncompressed (xz packs it better)
#   protobuf-c/include, lib  protobuf-c.h and libprotobuf-c.a, for building the shim
#   pregenerated/            softmig.pb-c.c/.h made by protoc-c, for nodes without protoc-c
#   MANIFEST.txt             what was packed, from which commit
#
# Needs a JDK 17+ (jlink, jdeps), protoc-c and libprotobuf-c-dev on this machine.
# Takes a few minutes (jdeps, then xz over ~190 MB); XZ_OPT overrides "-6 -T0".

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST="${1:-$ROOT/.gpu-bundle}"
JAR="$ROOT/coordinator/target/softmig.jar"
PROTO_DIR="$ROOT/proto/src/main/proto"
MAX_BYTES=$((40 * 1024 * 1024))
# jdeps answers and jlinked runtimes of earlier runs, outside the checkout so that
# .gpu-bundle/ stays small (SOFTMIG_BUNDLE_CACHE overrides)
CACHE="${SOFTMIG_BUNDLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/softmig-gpu-bundle}"
XZ_DEFAULT="-6 -T0"
# The coordinator's modules: Akka needs java.management, jdk.unsupported and jdk.jfr
# (Artery flight-recorder events), Logback java.xml and java.naming, Netty jdk.net,
# the Prometheus exporter jdk.httpserver; jdeps adds what else the jar uses.
MODULES="java.base,java.xml,java.management,java.naming,jdk.jfr,jdk.net,jdk.unsupported,java.logging,java.sql,jdk.httpserver"

die() {
	echo "make-gpu-bundle.sh: $*" >&2
	exit 1
}

T0=$(date +%s)
step() { echo "[$(($(date +%s) - T0))s] $*"; }

[ -f "$JAR" ] || die "no $JAR; build it first: mvn -o -q -B -DskipTests package"
for tool in jlink jdeps protoc-c tar xz python3; do
	command -v "$tool" >/dev/null || die "$tool is missing"
done
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
PBC_HEADER=/usr/include/protobuf-c/protobuf-c.h
PBC_LIB=/usr/lib/$MULTIARCH/libprotobuf-c.a
if [ ! -f "$PBC_HEADER" ] || [ ! -f "$PBC_LIB" ]; then
	die "no protobuf-c (apt-get install libprotobuf-c-dev)"
fi

STAGE_ROOT=$(mktemp -d)
trap 'rm -rf "$STAGE_ROOT"' EXIT
STAGE="$STAGE_ROOT/softmig-gpu-bundle"
mkdir -p "$STAGE/protobuf-c/include/protobuf-c" "$STAGE/protobuf-c/lib" "$STAGE/pregenerated"

# Modules the jar really uses, as far as jdeps can tell; added to the list above
# (jdk.httpserver for the metrics endpoint, java.desktop for java.beans, ...).  The
# shaded jar carries the module-info.class of some of its parts, which makes jdeps
# treat it as a broken module, so it reads the classes unpacked without them.  The
# libraries' classes (all but org/softmig) change rarely: their answer is cached under
# CACHE, keyed by the JDK and their names and CRCs; softmig's own classes are read every
# time.  The jlinked runtime is cached too, keyed by the JDK and the module list.
mkdir -p "$CACHE" "$STAGE_ROOT/own" "$STAGE_ROOT/libs"
step "reading the jar"
LIBS_KEY=$(python3 - "$JAR" "$STAGE_ROOT/own" "$STAGE_ROOT/libs" <<'PY'
import hashlib, sys, zipfile
jar, own, libs = sys.argv[1:4]
h = hashlib.sha256()
with zipfile.ZipFile(jar) as z:
    names = [n for n in z.namelist()
             if n.endswith(".class") and not n.endswith("module-info.class")]
    z.extractall(own, [n for n in names if n.startswith("org/softmig/")])
    theirs = sorted(n for n in names if not n.startswith("org/softmig/"))
    for n in theirs:
        h.update(f"{n}:{z.getinfo(n).CRC}\n".encode())
with open(libs + "/names.txt", "w") as f:
    f.write("\n".join(theirs))
print(h.hexdigest()[:20])
PY
)
JDK_ID=$(jlink --version 2>&1 | head -1)
jdeps_of() {
	timeout 600 jdeps --ignore-missing-deps --multi-release 17 --print-module-deps "$1" \
		2>/dev/null | tail -1 || true
}
LIBS_CACHE="$CACHE/jdeps-libs-$(echo "$JDK_ID $LIBS_KEY" | sha256sum | cut -c1-20).txt"
if [ -s "$LIBS_CACHE" ]; then
	step "jdeps of the libraries: cached ($LIBS_CACHE)"
	found_libs=$(cat "$LIBS_CACHE")
else
	step "jdeps of the libraries (cached afterwards)"
	python3 - "$JAR" "$STAGE_ROOT/libs" <<'PY'
import sys, zipfile
jar, libs = sys.argv[1:3]
names = [n for n in open(libs + "/names.txt").read().split("\n") if n]
with zipfile.ZipFile(jar) as z:
    z.extractall(libs + "/classes", names)
PY
	found_libs=$(jdeps_of "$STAGE_ROOT/libs/classes")
	if [ -n "$found_libs" ]; then echo "$found_libs" >"$LIBS_CACHE"; fi
fi
step "jdeps of softmig's classes"
found_own=$(jdeps_of "$STAGE_ROOT/own")
rm -rf "$STAGE_ROOT/own" "$STAGE_ROOT/libs"
found="$found_libs,$found_own"
if [ -n "$found_libs" ]; then
	for m in ${found//,/ }; do
		case ",$MODULES," in
		*",$m,"*) ;;
		*)
			echo "jdeps: adding module $m"
			MODULES="$MODULES,$m"
			;;
		esac
	done
else
	echo "jdeps gave no answer; using the module list as it is"
fi

JRE_CACHE="$CACHE/jre-$(echo "$JDK_ID $MODULES" | sha256sum | cut -c1-20)"
if [ -x "$JRE_CACHE/bin/java" ]; then
	step "jlink: cached ($JRE_CACHE)"
else
	step "jlink: $MODULES"
	rm -rf "$JRE_CACHE.tmp"
	jlink --add-modules "$MODULES" --compress=0 --no-header-files --no-man-pages --strip-debug \
		--output "$JRE_CACHE.tmp"
	mv "$JRE_CACHE.tmp" "$JRE_CACHE"
fi
cp -a "$JRE_CACHE" "$STAGE/jre"
"$STAGE/jre/bin/java" -version 2>&1 | head -1

step "storing the jar uncompressed"
python3 - "$JAR" "$STAGE/softmig.jar" <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
    for info in zin.infolist():
        data = zin.read(info.filename)
        info.compress_type = zipfile.ZIP_STORED
        zout.writestr(info, data)
PY
"$STAGE/jre/bin/java" -jar "$STAGE/softmig.jar" --help >/dev/null 2>&1 ||
	echo "warning: 'java -jar softmig.jar --help' failed with the bundled runtime" >&2

cp "$PBC_HEADER" "$STAGE/protobuf-c/include/protobuf-c/"
cp "$PBC_LIB" "$STAGE/protobuf-c/lib/"
protoc-c --c_out="$STAGE/pregenerated" --proto_path="$PROTO_DIR" "$PROTO_DIR/softmig.proto"

{
	echo "made:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "commit:    $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "java:      $("$STAGE/jre/bin/java" -version 2>&1 | head -1)"
	echo "modules:   $MODULES"
	echo "protobuf-c: $(protoc-c --version 2>&1 | head -1)"
	echo "arch:      $MULTIARCH"
} >"$STAGE/MANIFEST.txt"

mkdir -p "$DEST"
OUT="$DEST/softmig-gpu-bundle.tar.xz"
step "packing $OUT (xz ${XZ_OPT:-$XZ_DEFAULT})"
XZ_OPT="${XZ_OPT:-$XZ_DEFAULT}" tar -cJf "$OUT.tmp" -C "$STAGE_ROOT" softmig-gpu-bundle
mv "$OUT.tmp" "$OUT"
size=$(stat -c %s "$OUT")
step "bundle: $OUT ($((size / 1024 / 1024)) MiB)"
[ "$size" -le "$MAX_BYTES" ] || die "the bundle is over $((MAX_BYTES / 1024 / 1024)) MiB"
