# shellcheck shell=bash disable=SC2034
# checks.sh - PASS/FAIL bookkeeping for the deploy tests. Sourced.
#
#   check NAME COMMAND...        passes when COMMAND succeeds
#   check_eq NAME EXPECTED ACTUAL
#   checks_finish                prints "N passed, M failed"; returns 1 when any failed

CHECKS_PASSED=0
CHECKS_FAILED=0

check() {
	local name=$1
	shift
	if "$@"; then
		CHECKS_PASSED=$((CHECKS_PASSED + 1))
		echo "PASS: $name"
	else
		CHECKS_FAILED=$((CHECKS_FAILED + 1))
		echo "FAIL: $name"
	fi
}

check_eq() {
	if [[ $2 == "$3" ]]; then
		CHECKS_PASSED=$((CHECKS_PASSED + 1))
		echo "PASS: $1"
	else
		CHECKS_FAILED=$((CHECKS_FAILED + 1))
		echo "FAIL: $1 (expected '$2', got '$3')"
	fi
}

checks_finish() {
	echo "$CHECKS_PASSED passed, $CHECKS_FAILED failed"
	((CHECKS_FAILED == 0))
}
