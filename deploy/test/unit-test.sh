#!/bin/bash
# unit-test.sh - the SLURM scripts' pure logic without SLURM: slice table, GRES parsing,
# settings, job names, the TaskProlog's exports, and job_submit.lua (with lua5.1 if present).
#   deploy/test/unit-test.sh
set -u
DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$DEPLOY/test/lib/checks.sh"
. "$DEPLOY/slurm/softmig-slurm.sh"

T=$(mktemp -d /tmp/softmig-unit-test.XXXXXX)
trap '[[ -n ${KEEP:-} ]] || rm -rf "$T"' EXIT

# ------------------------------------------------------------------ slice table
cat >"$T/slices.conf" <<'X'
# comment
l40s.2 = 24G, 50
  l40s.4=12G,25   # trailing comment
h100.8 = 10.5GiB, 12.5
h100.mps4 = 20G, 25, mps
h100.ts4 = 20G, 25, time-slicing
X
check_eq "a slice type gives its memory and SM" "24G 50" "$(sm_slice_lookup l40s.2 "$T/slices.conf")"
check_eq "spaces and comments are allowed" "12G 25" "$(sm_slice_lookup l40s.4 "$T/slices.conf")"
check_eq "fractions are allowed" "10.5GiB 12.5" "$(sm_slice_lookup h100.8 "$T/slices.conf")"
check_eq "an MPS slice type says so" "20G 25 mps" "$(sm_slice_lookup h100.mps4 "$T/slices.conf")"
check_eq "time-slicing is the default, said or not" "20G 25" "$(sm_slice_lookup h100.ts4 "$T/slices.conf")"
sm_slice_lookup l40s "$T/slices.conf" >/dev/null 2>&1
check_eq "a type not in the table is a full GPU (status 1)" 1 $?
for bad in "l40s.2 = 24X, 50" "l40s.2 = 24G, 0" "l40s.2 = 24G, 101" "l40s.2 = 24G" "l40s.2 24G, 50" "l40s.2 = -1G, 50" \
	"l40s.2 = 24G, 50, MPS!" "l40s.2 = 24G, 50, mps, x" "l40s.2 = 24G, 50,"; do
	printf '%s\n' "$bad" >"$T/bad.conf"
	msg=$(sm_slice_lookup l40s.2 "$T/bad.conf" 2>&1)
	rc=$?
	check "a broken line is an error naming the line: '$bad'" test $rc -eq 2 -a -n "$msg"
done
check_eq "the table's types are listed" "l40s.2 l40s.4 h100.8 h100.mps4 h100.ts4 " "$(sm_slice_types "$T/slices.conf" | tr '\n' ' ')"

# What an MPS client of a slice gets: whole thread percent (at least 1, none at 100 %), and the
# memory in MiB rounded up, as libsoftmig.so derives them from the config file.
check_eq "MPS settings of 12G, 25 %" "25 0=12288M" "$(sm_mps_settings 12G 25)"
check_eq "MPS settings of 10.5GiB, 12.5 %" "12 0=10752M" "$(sm_mps_settings 10.5GiB 12.5)"
check_eq "MPS settings of 0.5 %, bytes" "1 0=1025M" "$(sm_mps_settings 1073741825 0.5)"
check_eq "MPS settings at 100 %" "- 0=512M" "$(sm_mps_settings 512M 100)"

# ------------------------------------------------------------------ GRES strings
check_eq "SLURM_JOB_GRES form" "l40s.2" "$(sm_gpu_types_in "gpu:l40s.2:1")"
check_eq "SLURM_JOB_GRES without a count" "l40s.2" "$(sm_gpu_types_in "gpu:l40s.2")"
check_eq "squeue TRES form" "l40s.4" "$(sm_gpu_types_in "gres:gpu:l40s.4:1")"
check_eq "newer TRES form" "l40s.4" "$(sm_gpu_types_in "gres/gpu:l40s.4=1")"
check_eq "an allocation with indices" "l40s.2" "$(sm_gpu_types_in "gpu:l40s.2:1(IDX:4)")"
check_eq "typeless requests give no type" "" "$(sm_gpu_types_in "gres:gpu:2")"
check_eq "lists give every type in order" "l40s l40s.2" "$(sm_gpu_types_in "gpu:l40s:1,gpu:l40s.2:1" | tr '\n' ' ' | sed 's/ $//')"
check_eq "one field per line" "l40s.2 l40s.4" "$(sm_gpu_types_in $'N/A\ngres:gpu:l40s.2:1\nN/A\ngres:gpu:l40s.4:1' | tr '\n' ' ' | sed 's/ $//')"
check_eq "other GRES are ignored" "" "$(sm_gpu_types_in "gres:mps:50,gres:shard:2")"
# Items are matched whole: text around a request is no request.
for hostile in "GRES=gpu:l40s.2:1(IDX:4)" "TresPerNode=gres:gpu:l40s.4:1" "JobName=GRES=gpu:l40s.2" \
	"Comment=x gpu:l40s.2:1" "x,gpu:l40s.2 :1" "/home/u/gpu:l40s.2" "gpu:l40s.2:1;rm" "xgpu:l40s.2" "gpu:l40s.2:1x"; do
	check_eq "not a request: '$hostile'" "" "$(sm_gpu_types_in "$hostile")"
done

SM_SLICES=$T/slices.conf
check_eq "the job's slice from SLURM_JOB_GRES" "l40s.4 12G 25" "$(SLURM_JOB_GRES=gpu:l40s.4:1 SLURM_JOB_ID=7 sm_job_slice)"
SLURM_JOB_GRES=gpu:l40s:2 SLURM_JOB_ID=7 sm_job_slice >/dev/null 2>&1
check_eq "a full-GPU job has no slice (status 1)" 1 $?

# Without SLURM_JOB_GRES (SLURM before 23.02) the Prolog asks squeue for the TRES fields alone;
# a stub answers as squeue -O does (fields padded with spaces, each followed by '|').
SQUEUE_ANSWER=""
squeue() {
	printf '%s\n' "$*" >>"$T/squeue.calls"
	printf '%s\n' "$SQUEUE_ANSWER"
}
SQUEUE_ANSWER="8       |N/A     |N/A      |gres:gpu:l40s.2:1     |N/A    |N/A   |"
check_eq "the job's slice from squeue's TRES fields" "l40s.2 24G 50" "$(SLURM_JOB_ID=8 sm_job_slice)"
check "squeue is asked for TRES fields only" grep -q -- "--Format=JobID:40|,ArrayTaskID:40|,tres-per-job:4000|,tres-per-node:4000|,tres-per-socket:4000|,tres-per-task:4000|" "$T/squeue.calls"
check "and never for the job's name or comment" bash -c "! grep -qiE 'name|comment|scontrol' '$T/squeue.calls'"
SQUEUE_ANSWER="8|N/A|gres:gpu:l40s.4:1|N/A|N/A|N/A|"
check_eq "--gpus=TYPE:1 (tres-per-job) is a slice too" "l40s.4 12G 25" "$(SLURM_JOB_ID=8 sm_job_slice)"
SQUEUE_ANSWER="8|N/A|N/A|N/A|N/A|N/A|"
SLURM_JOB_ID=8 sm_job_slice >/dev/null 2>&1
check_eq "a job without GPUs has no slice (status 1)" 1 $?
SQUEUE_ANSWER=""
SLURM_JOB_ID=8 sm_job_slice >/dev/null 2>&1
check_eq "an unknown job cannot be told (status 2)" 2 $?
SQUEUE_ANSWER="80|N/A|N/A|gres:gpu:l40s.2:1|N/A|N/A|"
SLURM_JOB_ID=8 sm_job_slice >/dev/null 2>&1
check_eq "another job's row is not this job's (status 2)" 2 $?
SQUEUE_ANSWER=$'8   |2-3 |2-3 |\n9   |1   |1   |\n8   |5   |5   |'
check_eq "an array task id from squeue, from the row of this job's own task" 5 "$(unset SLURM_ARRAY_TASK_ID; SLURM_JOB_ID=8 sm_array_task_id; echo "${SLURM_ARRAY_TASK_ID:-}")"
SQUEUE_ANSWER="8   |N/A  |N/A  |"
check_eq "no array task id for a plain job" "" "$(unset SLURM_ARRAY_TASK_ID; SLURM_JOB_ID=8 sm_array_task_id; echo "${SLURM_ARRAY_TASK_ID:-}")"
unset -f squeue

# ------------------------------------------------------------------ names and settings
check_eq "a job's key is its id" 42 "$(SLURM_JOB_ID=42 sm_job_key)"
check_eq "an array task's key is <jobid>_<taskid>" 43_7 "$(SLURM_JOB_ID=43 SLURM_ARRAY_TASK_ID=7 sm_job_key)"
check "job ids are decimal only" bash -c ". '$DEPLOY/slurm/softmig-slurm.sh'; sm_valid_job_id 12 && ! sm_valid_job_id '../x' && ! sm_valid_job_id ''"
printf 'SOCKET = /tmp/s.sock\nREPORT_TO_JOB_OUTPUT=yes # on\n' >"$T/settings.conf"
sm_load_settings "$T/settings.conf"
check_eq "settings are read" "/tmp/s.sock yes" "$SM_SOCKET $SM_REPORT_TO_JOB_OUTPUT"
printf 'SOCKETT=/tmp/s.sock\n' >"$T/settings.conf"
msg=$( (sm_load_settings "$T/settings.conf") 2>&1)
check "an unknown setting is an error naming it" grep -q "SOCKETT" <<<"$msg"
printf 'REPORT_TO_JOB_OUTPUT=maybe\n' >"$T/settings.conf"
check "a bad yes/no is an error" bash -c ". '$DEPLOY/slurm/softmig-slurm.sh'; ! sm_load_settings '$T/settings.conf' 2>/dev/null"
check_eq "AdminComment by default only with accounting storage" auto "$(. "$DEPLOY/slurm/softmig-slurm.sh"; echo "$SM_ADMIN_COMMENT")"
printf 'ADMIN_COMMENT=no\nSACCTMGR=/usr/local/bin/sacctmgr\n' >"$T/settings.conf"
check_eq "ADMIN_COMMENT and SACCTMGR are read" "no /usr/local/bin/sacctmgr" \
	"$(sm_load_settings "$T/settings.conf"; echo "$SM_ADMIN_COMMENT $SM_SACCTMGR")"
printf 'ADMIN_COMMENT=sometimes\n' >"$T/settings.conf"
check "a bad ADMIN_COMMENT is an error" bash -c ". '$DEPLOY/slurm/softmig-slurm.sh'; ! sm_load_settings '$T/settings.conf' 2>/dev/null"
printf 'MPS_BASE_DIR=/srv/mps/\n' >"$T/settings.conf"
check_eq "the MPS base directory is read" /srv/mps "$(sm_load_settings "$T/settings.conf"; echo "$SM_MPS_BASE_DIR")"
for bad in "srv/mps" "/srv/../tmp" "/srv/m ps" '/srv/$(id)'; do
	printf 'MPS_BASE_DIR=%s\n' "$bad" >"$T/settings.conf"
	check "a bad MPS base directory is an error: '$bad'" bash -c ". '$DEPLOY/slurm/softmig-slurm.sh'; ! sm_load_settings '$T/settings.conf' 2>/dev/null"
done

# ------------------------------------------------------------------ TaskProlog output
mkdir -p "$T/inst"
echo 'void s(void) {}' | gcc -shared -fPIC -x c - -o "$T/lib.so" 2>/dev/null || cp /bin/true "$T/lib.so"
echo jar >"$T/j.jar"
"$DEPLOY/install.sh" --prefix "$T/inst/opt" --sysconfdir "$T/inst/etc" --rundir "$T/inst/run" \
	--logdir "$T/inst/log" --unitdir "$T/inst/unit" --link-dir "" --lib "$T/lib.so" --jar "$T/j.jar" >/dev/null
mkdir -p "$T/inst/run/jobs"
TP=$T/inst/opt/slurm/task_prolog.sh
check_eq "no state file: the TaskProlog prints nothing" "" "$(SLURM_JOB_ID=5 "$TP")"
printf 'SLICE_TYPE=l40s.2\nGPU_UUID=GPU-aaaa\nPLACE_ERROR=\n' >"$T/inst/run/jobs/5.slice"
cp "$T/lib.so" "$T/a.so"; cp "$T/lib.so" "$T/b.so"
out=$(SLURM_JOB_ID=5 LD_PRELOAD="$T/a.so $T/b.so:$T/inst/opt/lib/libsoftmig.so" "$TP")
check "the TaskProlog exports the placed GPU" grep -qx "export CUDA_VISIBLE_DEVICES=GPU-aaaa" <<<"$out"
check "the TaskProlog puts softmig first, keeps the user's preloads, drops duplicates" \
	grep -qx "export LD_PRELOAD=$T/inst/opt/lib/libsoftmig.so:$T/a.so:$T/b.so" <<<"$out"
check "the TaskProlog exports the non-default socket" grep -qx "export SOFTMIG_SOCKET=$T/inst/run/softmig.sock" <<<"$out"
check "nothing is quoted" bash -c "! grep -q \"[\\\"']\" <<<'$out'"
printf 'SLICE_TYPE=l40s.2\nGPU_UUID=\nPLACE_ERROR=no GPU has room\n' >"$T/inst/run/jobs/6.slice"
out=$(SLURM_JOB_ID=6 "$TP")
check_eq "a refused placement fails the task" 1 $?
check "and hides every GPU" grep -qx "export CUDA_VISIBLE_DEVICES=" <<<"$out"
check "and says why" grep -q "^print softmig: job 6: no GPU has room" <<<"$out"
printf 'SLICE_TYPE=l40s.mps4\nGPU_UUID=GPU-bbbb\nPLACE_ERROR=\nSHARING=mps\nMPS_PIPE_DIRECTORY=/run/softmig/mps/GPU-bbbb/pipe\nMPS_THREADS=25\nMPS_PINNED=0=12288M\n' \
	>"$T/inst/run/jobs/7.slice"
out=$(SLURM_JOB_ID=7 CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=100 "$TP")
check "an MPS slice gets its GPU" grep -qx "export CUDA_VISIBLE_DEVICES=GPU-bbbb" <<<"$out"
check "and the GPU's MPS pipe directory" grep -qx "export CUDA_MPS_PIPE_DIRECTORY=/run/softmig/mps/GPU-bbbb/pipe" <<<"$out"
check "and its SM share as active threads" grep -qx "export CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25" <<<"$out"
check "and its memory as the pinned memory limit" grep -qx "export CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=12288M" <<<"$out"
out=$(SLURM_JOB_ID=5 "$TP")
check "a time-slicing slice gets no MPS variable" bash -c "! grep -q CUDA_MPS <<<'$out'"

# The Prolog of an MPS slice, without SLURM (slurmd's SLURM_JOB_GRES) and with the stub for
# softmig: placed with --mps, the pipe directory in the root-owned config file, the MPS client
# settings in the state file.
if [[ $(id -u) == 0 ]]; then
	cp "$DEPLOY/test/stub-softmig.sh" "$T/stub-softmig"
	printf 'SOFTMIG=%s\nSLICES=%s\nLOG_FILE=\nUSER_LOG_DIR=\n' "$T/stub-softmig" "$T/slices.conf" \
		>>"$T/inst/etc/slurm-scripts.conf"
	prolog() { env -i PATH=/usr/bin:/bin STUB_DIR="$T/stub" SLURM_JOB_USER=alice "$@" "$T/inst/opt/slurm/prolog.sh"; }
	prolog SLURM_JOB_ID=31 SLURM_JOB_GRES=gpu:h100.mps4:1
	check_eq "the Prolog of an MPS slice succeeds" 0 $?
	check "it places the slice with --mps" grep -qx "place --job 31 --mem 20G --sm 25 --mps --user alice --socket $T/inst/run/softmig.sock" "$T/stub/calls"
	uuid=$(awk '$1 == 31 { print $2 }' "$T/stub/placements")
	check_eq "the config file names the GPU's MPS pipe directory" "CUDA_MPS_PIPE_DIRECTORY=$T/inst/run/mps/$uuid/pipe" \
		"$(grep '^CUDA_MPS_PIPE_DIRECTORY=' "$T/inst/run/31.conf")"
	check_eq "and is root-owned 0644" "0 644" "$(stat -c '%u %a' "$T/inst/run/31.conf")"
	out=$(SLURM_JOB_ID=31 "$TP")
	check "the TaskProlog exports its pipe directory" grep -qx "export CUDA_MPS_PIPE_DIRECTORY=$T/inst/run/mps/$uuid/pipe" <<<"$out"
	check "and its thread percentage" grep -qx "export CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25" <<<"$out"
	check "and its pinned memory limit" grep -qx "export CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=20480M" <<<"$out"
	prolog SLURM_JOB_ID=32 SLURM_JOB_GRES=gpu:h100.ts4:1
	check "a time-slicing slice is placed without --mps" grep -qx "place --job 32 --mem 20G --sm 25 --user alice --socket $T/inst/run/softmig.sock" "$T/stub/calls"
	check "and its config file names no pipe directory" bash -c "! grep -q CUDA_MPS '$T/inst/run/32.conf'"
	check "and its state file no MPS setting" bash -c "! grep -q MPS '$T/inst/run/jobs/32.slice'"
else
	echo "SKIP: the Prolog checks need root (root-owned files)"
fi

# ------------------------------------------------------------------ slice device nodes
if [[ $(id -u) == 0 ]]; then
	"$DEPLOY/slurm/softmig-slice-devices.sh" 3 "$T/dev" && "$DEPLOY/slurm/softmig-slice-devices.sh" 3 "$T/dev"
	check_eq "softmig-slice-devices.sh makes inert char devices 240:N, twice without harm" \
		"f0:0 f0:1 f0:2 " "$(for i in 0 1 2; do stat -c '%t:%T' "$T/dev/slice$i"; done | tr '\n' ' ')"
	check "all of them character devices" test -c "$T/dev/slice2"
else
	echo "SKIP: softmig-slice-devices.sh needs root (mknod)"
fi
check "softmig-slice-devices.sh refuses a bad count" bash -c "! '$DEPLOY/slurm/softmig-slice-devices.sh' x '$T/dev2' 2>/dev/null"

# ------------------------------------------------------------------ job_submit.lua
if command -v lua5.1 >/dev/null 2>&1; then
	sed "s#^local SLICES_FILE = .*#local SLICES_FILE = \"$DEPLOY/etc/slices.conf\"#" \
		"$DEPLOY/slurm/job_submit.lua" >"$T/job_submit.lua"
	out=$(lua5.1 "$DEPLOY/test/job_submit_test.lua" "$T/job_submit.lua")
	check "job_submit.lua: $(tail -n 1 <<<"$out")" test $? -eq 0
	grep FAIL <<<"$out"
else
	echo "SKIP: lua5.1 not installed (apt-get install lua5.1)"
fi

checks_finish
