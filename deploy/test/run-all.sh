#!/bin/bash
# run-all.sh - every deploy test, in order of cost; for CI (root, Debian 12).
# The SLURM tests are skipped, with a note, when not running as root.
#   deploy/test/run-all.sh [--no-e2e]
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tests=(unit-test.sh install-test.sh package-test.sh)
if [[ $(id -u) == 0 ]]; then
	tests+=(slurm-scripts-test.sh)
	[[ ${1:-} == --no-e2e ]] || tests+=(slurm-e2e.sh)
else
	echo "NOTE: not root: skipping slurm-scripts-test.sh and slurm-e2e.sh"
fi
failed=()
for t in "${tests[@]}"; do
	echo "=== $t"
	"$here/$t" || failed+=("$t")
done
if ((${#failed[@]})); then
	echo "deploy tests failed: ${failed[*]}"
	exit 1
fi
echo "deploy tests passed: ${tests[*]}"
