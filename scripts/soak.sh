#!/usr/bin/env bash
# Soak (not in CI): jobs' processes allocate, free and are SIGKILLed while the coordinator is
# SIGKILLed and restarted every few minutes; reports every moment a job stood over its limit and
# every leak.  Default one hour on the fake driver (simulated GPUs); --real for the machine's
# driver.  Options: scripts/soak.py --help.  Exit 0 when nothing was over and nothing leaked.
#
#   nice -n 10 scripts/soak.sh --duration 1800
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"

if [[ ! -f $root/native-shim/build/libsoftmig.so || ! -f $root/native-shim/build/test/mem_race ]]; then
  bash "$root/scripts/native-deps.sh"
  cmake -S "$root/native-shim" -B "$root/native-shim/build" >/dev/null
  cmake --build "$root/native-shim/build" -j2 >/dev/null
fi
if [[ ! -f $root/coordinator/target/softmig.jar ]]; then
  (cd "$root" && mvn -q -B -DskipTests -pl coordinator -am package)
fi
exec python3 "$root/scripts/soak.py" "$@"
