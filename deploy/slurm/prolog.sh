#!/bin/bash
# prolog.sh - slurmd Prolog for softmig (runs as root on each node of a job, before any task).
#
# For a job that asked for a slice type of slices.conf (e.g. --gres=gpu:l40s.2:1):
#   1. ask the node's coordinator to place the slice (`softmig place`), which prints the UUID
#      of the GPU that has room for it;
#   2. write the admin config file <CONFIG_DIR>/<jobid>[_<arraytaskid>].conf (SoftMig format,
#      root-owned, 0644, replaced atomically) with the slice's memory and SM limits;
#   3. write the job's state file <STATE_DIR>/<jobid>.slice, which the TaskProlog (running as
#      the user) turns into CUDA_VISIBLE_DEVICES and LD_PRELOAD, and the Epilog uses to clean up.
# A slice type marked `mps` in slices.conf is placed with `softmig place --mps` (only on a GPU
# the coordinator shares through MPS); its config file also names the GPU's MPS pipe directory
# (<MPS_BASE_DIR>/<uuid>/pipe, CUDA_MPS_PIPE_DIRECTORY), and its state file what the TaskProlog
# exports for an MPS client: the pipe directory, the active-thread percentage and the pinned
# device memory limit, from the slice's SM and memory limits.
# Jobs without a slice type (full GPUs, CPU jobs) are left alone.
#
# Exit status: 0 also when placement was refused (the reason goes into the state file, the
# TaskProlog fails the job's tasks with it: the node stays in service). Non-zero only when
# this node cannot run slice jobs at all (broken settings or slice table, SLURM unreachable):
# slurmd then drains the node and requeues the job, which is what an admin needs to see.
#
# slurm.conf: Prolog=<this file>, PrologFlags=Alloc (place at allocation time, also for salloc).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
set -u
umask 022

. "$(dirname "$(readlink -f "$0")")/softmig-slurm.sh" || exit 1

errors=$(mktemp) || sm_die "cannot create a temporary file"
sm_load_settings 2>"$errors" || sm_die "bad settings: $(tr '\n' ' ' <"$errors")"
rm -f "$errors"
sm_valid_job_id "${SLURM_JOB_ID:-}" || sm_die "SLURM_JOB_ID is missing or not a number: '${SLURM_JOB_ID:-}'"

# Which slice, if any. slurmctld can be briefly busy: ask a few times before giving up.
errors=$(mktemp) || sm_die "cannot create a temporary file"
slice="" rc=2
for attempt in 1 2 3; do
	slice=$(sm_job_slice 2>"$errors") && rc=0 || rc=$?
	((rc != 2)) && break
	sleep "$attempt"
done
why=$(tr '\n' ' ' <"$errors")
rm -f "$errors"
((rc == 1)) && exit 0
((rc == 2)) && sm_die "cannot tell the job's slice type: $why"

read -r slice_type slice_mem slice_sm slice_sharing <<<"$slice"
sm_array_task_id 2>/dev/null

err=$(sm_root_dir "$SM_CONFIG_DIR" 2>&1 && sm_root_dir "$SM_STATE_DIR" 2>&1) || sm_die "$err"
key=$(sm_job_key)
config=$(sm_config_file)
state=$(sm_state_file)

mps_flag=() mps_pipe="" mps_lines="" mps_threads="" mps_pinned=""
if [[ $slice_sharing == mps ]]; then
	mps_flag=(--mps)
	read -r mps_threads mps_pinned <<<"$(sm_mps_settings "$slice_mem" "$slice_sm")"
	[[ $mps_threads == - ]] && mps_threads=""
fi

# The state file comes first, so the Epilog releases the placement even if this script dies
# half way.
write_state() {  # GPU_UUID PLACE_ERROR
	sm_write_root_file "$state" 0644 <<EOF
SLICE_TYPE=$slice_type
SLICE_MEMORY=$slice_mem
SLICE_SM=$slice_sm
GPU_UUID=$1
PLACE_ERROR=$2
JOB_KEY=$key
CONFIG_FILE=$config
$mps_lines
EOF
}
write_state "" "placement in progress" || sm_die "cannot write $state"

# The coordinator names a job by its config file (<jobid> or <jobid>_<arraytaskid>): place,
# report and release use the same name.
out=$(timeout "$SM_PLACE_TIMEOUT" "$SM_SOFTMIG" place --job "$key" --mem "$slice_mem" \
	--sm "$slice_sm" "${mps_flag[@]}" --user "${SLURM_JOB_USER:-}" --socket "$SM_SOCKET" 2>&1)
rc=$?
uuid=$(grep -oE '^GPU-[0-9A-Fa-f-]+$' <<<"$out" | tail -n 1)
if ((rc != 0)) || [[ -z $uuid ]]; then
	reason=$(tr '\n' ' ' <<<"$out" | tr -s ' ' | cut -c1-300)
	((rc == 124)) && reason="the coordinator did not answer within ${SM_PLACE_TIMEOUT}s"
	[[ -z $reason ]] && reason="softmig place exited with status $rc"
	sm_log ERR "placement of $slice_type ($slice_mem, $slice_sm%) refused: $reason"
	write_state "" "no $slice_type slice could be placed on $(hostname -s): $reason" ||
		sm_die "cannot write $state"
	exit 0
fi

# undo_and_die MESSAGE: give the placement back before SLURM drains the node.
undo_and_die() {
	timeout "$SM_PLACE_TIMEOUT" "$SM_SOFTMIG" release --job "$key" --socket "$SM_SOCKET" >/dev/null 2>&1
	rm -f -- "$config" "$state"
	sm_die "$1"
}

if [[ $slice_sharing == mps ]]; then
	mps_pipe=$SM_MPS_BASE_DIR/$uuid/pipe
	mps_lines="SHARING=mps
MPS_PIPE_DIRECTORY=$mps_pipe
MPS_THREADS=$mps_threads
MPS_PINNED=$mps_pinned"
fi
{
	echo "# softmig: job $key, slice $slice_type, GPU $uuid"
	echo "CUDA_DEVICE_MEMORY_LIMIT=$slice_mem"
	echo "CUDA_DEVICE_SM_LIMIT=$slice_sm"
	if [[ -n $mps_pipe ]]; then
		echo "CUDA_MPS_PIPE_DIRECTORY=$mps_pipe"
	fi
} | sm_write_root_file "$config" 0644 || undo_and_die "cannot write $config"
write_state "$uuid" "" || undo_and_die "cannot write $state"
sm_log INFO "placed $slice_type ($slice_mem, $slice_sm%${slice_sharing:+, $slice_sharing}) on $uuid, config $config"

# Where the job's libsoftmig.so logs: a directory of the user's own (logs are not worth failing
# the job for).
if [[ -n $SM_USER_LOG_DIR ]]; then
	err=$(sm_user_log_dir "${SLURM_JOB_USER:-}" "${SLURM_JOB_UID:-}" 2>&1 >/dev/null) ||
		sm_log WARNING "no per-user log directory: $err"
fi
exit 0
