#!/usr/bin/env bash
# Fuzzes the coordinator's connection handling with Jazzer (the *FuzzTest classes of the
# coordinator module): each fuzz test in a JVM of its own, starting from its committed inputs
# (src/test/resources/.../<Class>Inputs/) and the corpus of earlier runs (coordinator/.cifuzz-corpus/).
#
#   scripts/fuzz-coordinator.sh [--seconds N | --runs N] [CLASS...]
#     --seconds N   fuzz each test for N seconds (default 60; `mvn verify` fuzzes each for 5)
#     --runs N      or stop after N inputs (1000000 for the figures in docs/BENCHMARKS.md)
#     CLASS         FrameDecoderFuzzTest, ConnectionBytesFuzzTest, HelloFuzzTest, CliRequestFuzzTest
#                   (default: all)
#
# A finding is written to the test's inputs folder (crash-<sha1>): it fails the unit tests from
# then on, until fixed; keep it there as a regression input.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds=60
runs=0
classes=()
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; seconds=86400; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) classes+=("$1"); shift ;;
  esac
done
[[ $seconds =~ ^[0-9]+$ && $runs =~ ^[0-9]+$ ]] || { echo "fuzz-coordinator.sh: --seconds and --runs take numbers" >&2; exit 2; }
if ((${#classes[@]} == 0)); then
  classes=(FrameDecoderFuzzTest ConnectionBytesFuzzTest HelloFuzzTest CliRequestFuzzTest)
fi

mvn -q -B -DskipTests -pl coordinator -am test-compile
status=0
for class in "${classes[@]}"; do
  log="coordinator/target/fuzz-$class.log"
  echo "== $class (log: $log)"
  start=$(date +%s)
  if JAZZER_FUZZ=1 mvn -B -pl coordinator -am test -Dtest="$class" -Dsurefire.failIfNoSpecifiedTests=false \
      -DargLine="-Djazzer.max_duration=${seconds}s -Djazzer.max_executions=$runs" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  grep -E '^(Done [0-9]+ runs|#[0-9]+[[:space:]]+DONE)' "$log" | tail -2 || true
  echo "$class: $result in $(($(date +%s) - start)) s wall"
done
exit $status
