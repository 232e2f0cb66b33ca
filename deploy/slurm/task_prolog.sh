#!/bin/bash
# task_prolog.sh - SLURM TaskProlog for softmig (runs as the job's user before every task).
#
# It decides nothing: the root Prolog placed the slice and wrote the job's state file; this
# script turns that file into the task's environment, using the TaskProlog protocol on stdout:
#   export CUDA_VISIBLE_DEVICES=<uuid of the placed GPU>
#   export LD_PRELOAD=<libsoftmig.so>[:the user's own preloads]
#   export SOFTMIG_SOCKET=<socket>            (only when the site uses a non-default socket)
#   export SOFTMIG_LOG_FILE=<USER_LOG_DIR>/<user>/<job>.log  (when the Prolog made the user's
#                                             directory: where the user reads the shim's log)
# and for an MPS slice what an MPS client needs (libsoftmig.so sets the same values from the
# root-owned config file before CUDA starts, so changing them here raises nothing):
#   export CUDA_MPS_PIPE_DIRECTORY=<MPS_BASE_DIR>/<uuid>/pipe
#   export CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=<the slice's SM percent, whole>  (below 100 %)
#   export CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=<the slice's memory in MiB>M
# SLURM takes the value after '=' literally (quotes would be kept), so none are printed.
# The limits themselves live in the root-owned config file and in the coordinator; nothing
# the user puts in the environment can raise them.
#
# A job whose slice could not be placed gets no GPU (CUDA_VISIBLE_DEVICES empty) and the
# reason on its output, and the task is failed.
# Jobs without a state file (no slice) get no output at all.
#
# slurm.conf: TaskProlog=<this file>
PATH=/usr/local/bin:/usr/bin:/bin
set -u

. "$(dirname "$(readlink -f "$0")")/softmig-slurm.sh" || exit 0

if ! sm_load_settings 2>/dev/null; then
	echo "print softmig: the node's softmig settings are broken; ask your site's support"
	exit 1
fi
sm_valid_job_id "${SLURM_JOB_ID:-}" || exit 0
state=$(sm_state_file)
[[ -f $state ]] || exit 0
sm_read_state "$state"

if [[ -n $PLACE_ERROR || -z $GPU_UUID ]]; then
	echo "print softmig: job ${SLURM_JOB_ID}: ${PLACE_ERROR:-no GPU was placed}"
	echo "export CUDA_VISIBLE_DEVICES="
	exit 1
fi

# softmig first, then the user's own preloads in their order, without a second copy of softmig.
# LD_PRELOAD may be separated by colons or spaces.
preload=$SM_LIBRARY
for lib in ${LD_PRELOAD:-}; do
	IFS=: read -ra parts <<<"$lib"
	for part in "${parts[@]}"; do
		[[ -z $part || $part == "$SM_LIBRARY" || ${part##*/} == libsoftmig.so ]] && continue
		preload+=":$part"
	done
done

echo "export CUDA_VISIBLE_DEVICES=$GPU_UUID"
echo "export LD_PRELOAD=$preload"
if [[ $SHARING == mps && -n $MPS_PIPE_DIRECTORY ]]; then
	echo "export CUDA_MPS_PIPE_DIRECTORY=$MPS_PIPE_DIRECTORY"
	[[ -n $MPS_THREADS ]] && echo "export CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=$MPS_THREADS"
	[[ -n $MPS_PINNED ]] && echo "export CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=$MPS_PINNED"
fi
if [[ $SM_SOCKET != "$SM_DEFAULT_SOCKET" ]]; then
	echo "export SOFTMIG_SOCKET=$SM_SOCKET"
fi
user=${SLURM_JOB_USER:-${USER:-}}
logdir=$SM_USER_LOG_DIR/$user
if [[ -n $SM_USER_LOG_DIR ]] && sm_valid_user "$user" && [[ -d $logdir && ! -L $logdir && -O $logdir ]]; then
	echo "export SOFTMIG_LOG_FILE=$logdir/$(sm_job_key).log"
fi
exit 0
