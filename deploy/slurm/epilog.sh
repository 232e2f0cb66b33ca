#!/bin/bash
# epilog.sh - slurmd Epilog for softmig (runs as root on each node of a job, after its tasks).
#
# For a job the Prolog placed (it left <STATE_DIR>/<jobid>.slice):
#   1. store the job's report: `softmig report <jobid> --json` into <REPORT_DIR>/<jobid>.json,
#      and, with REPORT_TO_JOB_OUTPUT=yes, the text report appended to the job's stdout file
#      (written with the user's own uid, never as root);
#   2. write the job's usage in one line (`softmig report <jobid> --summary`: GPU memory peak
#      and limit, OOM refusals, GPU time and SM share) to the job's AdminComment in the
#      accounting database, so that `sacct -o AdminComment` shows it: `sacctmgr -i update job
#      where jobid=... set AdminComment=...` (slurmctld refuses `scontrol update` of a job that
#      has finished, as it has when the Epilog runs). ADMIN_COMMENT=auto (the default) does it
#      where slurmctld says accounting storage is slurmdbd; yes always, no never;
#   3. release the placement (`softmig release`);
#   4. remove the admin config file(s) and the state file.
# Other jobs: nothing but a check for stray config files of this job id.
#
# Exit status: 0 unless the settings are broken. A failed report or release is logged (syslog
# and LOG_FILE) but does not drain the node.
#
# slurm.conf: Epilog=<this file>
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
set -u
umask 022

. "$(dirname "$(readlink -f "$0")")/softmig-slurm.sh" || exit 1

errors=$(mktemp) || sm_die "cannot create a temporary file"
sm_load_settings 2>"$errors" || sm_die "bad settings: $(tr '\n' ' ' <"$errors")"
rm -f "$errors"
sm_valid_job_id "${SLURM_JOB_ID:-}" || sm_die "SLURM_JOB_ID is missing or not a number: '${SLURM_JOB_ID:-}'"
jobid=$SLURM_JOB_ID
key=$(sm_job_key)
state=$(sm_state_file)

remove_config_files() {  # the Prolog's file and any array-task variant of this job id
	local f
	for f in "$SM_CONFIG_DIR/$jobid.conf" "$SM_CONFIG_DIR/$jobid"_*.conf "${1:-}"; do
		[[ -n $f && ( -f $f || -L $f ) ]] && rm -f -- "$f"
	done
}

if [[ ! -f $state ]]; then
	remove_config_files
	exit 0
fi
sm_read_state "$state"
config=$(grep -m1 '^CONFIG_FILE=' "$state" | cut -d= -f2-)
[[ $config == "$SM_CONFIG_DIR"/* ]] || config=""
# The Prolog knew the array task id (the Epilog's environment may not): reuse its name.
[[ -n $config ]] && key=$(basename "$config" .conf)
sm_valid_job_key "$key" || key=$jobid

# The job's stdout file, as slurmctld expanded it (%j, %u, ... resolved).
job_stdout() {
	scontrol show job "$jobid" 2>/dev/null | grep -oE '(^|[[:space:]])StdOut=[^[:space:]]+' |
		head -n 1 | sed -E 's/^[[:space:]]*StdOut=//'
}

# The job as the accounting database names it: an array task as <arrayjob>_<task>, since the
# first task's own id is also the array's and would select every task of it.
accounting_id() {
	if [[ ${SLURM_ARRAY_JOB_ID:-} =~ ^[0-9]+$ && ${SLURM_ARRAY_TASK_ID:-} =~ ^[0-9]+$ ]]; then
		echo "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
	else
		echo "$jobid"
	fi
}

# Prints "slurmdbd" when slurmctld keeps job accounting there (where an AdminComment can be
# stored), else nothing.
accounting_storage() {
	timeout "$SM_PLACE_TIMEOUT" scontrol show config 2>/dev/null |
		grep -qE '^AccountingStorageType[[:space:]]*=[[:space:]]*accounting_storage/slurmdbd' && echo slurmdbd
}

# append_as_user FILE < TEXT: append with the job owner's uid/gid, only to an existing file,
# so a user cannot make root write somewhere through a symlink.
append_as_user() {
	local file=$1
	[[ -n ${SLURM_JOB_UID:-} && -n ${SLURM_JOB_GID:-} && -f $file ]] || return 1
	setpriv --reuid="$SLURM_JOB_UID" --regid="$SLURM_JOB_GID" --clear-groups -- \
		sh -c 'test -f "$1" && cat >>"$1"' sh "$file"
}

if [[ -n $GPU_UUID ]]; then
	errors=$(mktemp) || sm_die "cannot create a temporary file"
	if [[ -n $SM_REPORT_DIR ]]; then
		if ! err=$(sm_root_dir "$SM_REPORT_DIR" 2>&1); then
			sm_log ERR "no report stored for job $jobid: $err"
		elif json=$(timeout "$SM_PLACE_TIMEOUT" "$SM_SOFTMIG" report "$key" --json --socket "$SM_SOCKET" 2>"$errors"); then
			printf '%s\n' "$json" | sm_write_root_file "$SM_REPORT_DIR/$key.json" 0644 ||
				sm_log ERR "cannot write $SM_REPORT_DIR/$key.json"
		else
			sm_log ERR "no report stored for job $jobid: $(tr '\n' ' ' <"$errors" | cut -c1-300)"
		fi
	fi
	if [[ $SM_REPORT_TO_JOB_OUTPUT == yes ]]; then
		out=$(job_stdout)
		if [[ -z $out ]]; then
			sm_log WARNING "job $jobid has no stdout file to append the report to"
		elif text=$(timeout "$SM_PLACE_TIMEOUT" "$SM_SOFTMIG" report "$key" --socket "$SM_SOCKET" 2>"$errors"); then
			if printf '\n%s\n' "$text" | append_as_user "$out"; then
				sm_log INFO "report appended to $out"
			else
				sm_log WARNING "could not append the report to $out"
			fi
		else
			sm_log WARNING "no text report for job $jobid: $(tr '\n' ' ' <"$errors" | cut -c1-300)"
		fi
	fi
	if [[ $SM_ADMIN_COMMENT == yes || ( $SM_ADMIN_COMMENT == auto && -n $(accounting_storage) ) ]]; then
		if ! line=$(timeout "$SM_PLACE_TIMEOUT" "$SM_SOFTMIG" report "$key" --summary --socket "$SM_SOCKET" 2>"$errors"); then
			sm_log WARNING "no accounting line for job $jobid: $(tr '\n' ' ' <"$errors" | cut -c1-300)"
		elif timeout "$SM_PLACE_TIMEOUT" "$SM_SACCTMGR" -i update job where jobid="$(accounting_id)" \
			set AdminComment="$line" >/dev/null 2>"$errors"; then
			sm_log INFO "AdminComment: $line"
		else
			sm_log WARNING "could not set the AdminComment of job $jobid ($line): $(tr '\n' ' ' <"$errors" | cut -c1-300)"
		fi
	fi
	rm -f "$errors"
fi

# Release even when the placement never finished: the coordinator answers "nothing placed".
if ! out=$(timeout "$SM_PLACE_TIMEOUT" "$SM_SOFTMIG" release --job "$key" --socket "$SM_SOCKET" 2>&1); then
	sm_log ERR "release of job $jobid failed: $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
fi

remove_config_files "$config"
rm -f -- "$state"
sm_log INFO "job $jobid ($SLICE_TYPE) cleaned up"
exit 0
