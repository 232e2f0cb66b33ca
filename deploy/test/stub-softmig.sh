#!/bin/bash
# stub-softmig.sh - a stand-in for `softmig` with the same command line, for testing the SLURM
# scripts without a coordinator. State lives in STUB_DIR (default: this file's directory/stub).
#
#   place --job ID --mem SIZE --sm PCT [--mps] [--socket P]   best fit over STUB_GPUS, prints the UUID
#   release --job ID [--socket P]
#   report JOBID [--json|--summary] [--socket P]
#   status                                             the placements, one "job uuid bytes" line each
#
# STUB_GPUS: comma list of sizes (default 48G,48G); GPU i is GPU-00000000-0000-0000-0000-00000000000i.
# A file STUB_DIR/refuse makes `place` fail with its content as the reason.
# Every call is appended to STUB_DIR/calls.
set -u
dir=${STUB_DIR:-$(dirname "$(readlink -f "$0")")/stub}
mkdir -p "$dir"
touch "$dir/placements"
echo "$*" >>"$dir/calls"

bytes() {  # 24G -> bytes (binary units)
	local v=${1^^} n unit
	[[ $v =~ ^([0-9]+)([KMGT]?)(I?B)?$ ]] || { echo "bad size '$1'" >&2; return 1; }
	n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
	case $unit in K) n=$((n << 10)) ;; M) n=$((n << 20)) ;; G) n=$((n << 30)) ;; T) n=$((n << 40)) ;; esac
	echo "$n"
}
uuid() { printf 'GPU-00000000-0000-0000-0000-%012d\n' "$1"; }

cmd=${1:-}
shift || true
job="" mem="" sm="" json=no mps=no summary=no
while [[ $# -gt 0 ]]; do
	case $1 in
	--job) job=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--sm) sm=$2; shift 2 ;;
	--socket | --user) shift 2 ;;
	--json) json=yes; shift ;;
	--mps) mps=yes; shift ;;
	--summary) summary=yes; shift ;;
	*) job=$1; shift ;;
	esac
done

exec 9>"$dir/lock"
flock 9
case $cmd in
place)
	[[ -n $job && -n $mem && -n $sm ]] || { echo "place needs --job --mem --sm" >&2; exit 2; }
	if [[ -f $dir/refuse ]]; then cat "$dir/refuse" >&2; exit 3; fi
	want=$(bytes "$mem") || exit 2
	if line=$(grep "^$job " "$dir/placements"); then
		echo "${line#* }" | cut -d' ' -f1
		exit 0
	fi
	best="" best_free=""
	i=0
	IFS=, read -ra sizes <<<"${STUB_GPUS:-48G,48G}"
	for size in "${sizes[@]}"; do
		total=$(bytes "$size")
		used=$(awk -v u="$(uuid $i)" '$2 == u { s += $3 } END { printf "%.0f\n", s }' "$dir/placements")
		free=$((total - used))
		if ((free >= want)) && { [[ -z $best ]] || ((free < best_free)); }; then
			best=$i best_free=$free
		fi
		i=$((i + 1))
	done
	[[ -n $best ]] || { echo "no GPU has $mem free" >&2; exit 3; }
	echo "$job $(uuid "$best") $want $sm" >>"$dir/placements"
	uuid "$best"
	;;
release)
	grep -v "^$job " "$dir/placements" >"$dir/placements.new"
	mv "$dir/placements.new" "$dir/placements"
	;;
report)
	line=$(grep "^$job " "$dir/placements") || { echo "no report for job $job" >&2; exit 5; }
	read -r _ u b s <<<"$line"
	if [[ $summary == yes ]]; then
		printf 'softmig: %s memory peak 0 B of %s bytes, 0 OOM refusals\n' "${u:0:12}" "$b"
	elif [[ $json == yes ]]; then
		printf '{"reports":[{"job_id":"%s","gpu_uuid":"%s","memory_limit_bytes":%s,"sm_limit_percent":%s}]}\n' "$job" "$u" "$b" "$s"
	else
		printf 'Job %s on %s\n  memory limit %s bytes\n  compute limit %s%%\n' "$job" "$u" "$b" "$s"
	fi
	;;
status)
	cat "$dir/placements"
	;;
*)
	echo "stub softmig: unknown command '$cmd'" >&2
	exit 2
	;;
esac
