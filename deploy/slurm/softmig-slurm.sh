# shellcheck shell=bash disable=SC2034
# softmig-slurm.sh - functions shared by prolog.sh, task_prolog.sh and epilog.sh.
#
# Sourced, never run. Reads the site settings (slurm-scripts.conf) and the slice table
# (slices.conf); knows how a job is named on disk and how to find the slice type a job
# asked for. Nothing here trusts the job's environment for anything that decides a limit:
# the Prolog and Epilog run as root with an environment built by slurmd, and the TaskProlog
# (which runs as the job's user) only reads what the Prolog wrote.
#
# Bash 4+. The caller sets `set -u`; functions return non-zero and print a reason on stderr
# instead of exiting, except sm_die.

# install.sh rewrites this line when it installs under another --sysconfdir.
SOFTMIG_SYSCONFDIR=/etc/softmig

# Defaults for every setting; slurm-scripts.conf overrides them.
SM_SOFTMIG=/opt/softmig/bin/softmig
SM_SOCKET=/run/softmig/softmig.sock
SM_DEFAULT_SOCKET=/run/softmig/softmig.sock
SM_CONFIG_DIR=/var/run/softmig
SM_STATE_DIR=/run/softmig/jobs
SM_LIBRARY=/opt/softmig/lib/libsoftmig.so
SM_SLICES=$SOFTMIG_SYSCONFDIR/slices.conf
SM_REPORT_DIR=/var/log/softmig/reports
SM_REPORT_TO_JOB_OUTPUT=no
SM_ADMIN_COMMENT=auto
SM_SACCTMGR=sacctmgr
SM_LOG_FILE=/var/log/softmig/slurm-scripts.log
SM_USER_LOG_DIR=/var/log/softmig/users
SM_PLACE_TIMEOUT=30
SM_MPS_BASE_DIR=/run/softmig/mps

SM_SCRIPT=${0##*/}

# sm_log LEVEL MESSAGE... : one line to the log file (when writable) and to syslog.
sm_log() {
	local level=$1 line
	shift
	line="$(date -u +%Y-%m-%dT%H:%M:%SZ) ${SM_SCRIPT}[$$] $level job=${SLURM_JOB_ID:-?} $*"
	if [[ -n $SM_LOG_FILE && -w ${SM_LOG_FILE%/*} ]]; then
		printf '%s\n' "$line" >>"$SM_LOG_FILE" 2>/dev/null || true
	fi
	if command -v logger >/dev/null 2>&1; then
		logger -t softmig-slurm -p "user.${level,,}" -- "$SM_SCRIPT job=${SLURM_JOB_ID:-?} $*" 2>/dev/null || true
	fi
	[[ $level == ERR || $level == WARNING ]] && printf 'softmig: %s\n' "$*" >&2
	return 0
}

sm_die() {
	sm_log ERR "$*"
	exit 1
}

# sm_load_settings [FILE]: read KEY=VALUE lines; unknown keys are an error (a typo must not
# silently fall back to a default). Values are taken literally, without quotes. Sets the SM_*
# variables of the calling shell, so call it directly, not in $(...). The reason for a failure
# is printed on stderr.
sm_load_settings() {
	local file=${1:-$SOFTMIG_SYSCONFDIR/slurm-scripts.conf} n=0 line key value
	[[ -e $file ]] || return 0
	[[ -r $file ]] || { echo "cannot read $file" >&2; return 1; }
	while IFS= read -r line || [[ -n $line ]]; do
		n=$((n + 1))
		line=${line%%#*}
		line=${line#"${line%%[![:space:]]*}"}
		line=${line%"${line##*[![:space:]]}"}
		[[ -z $line ]] && continue
		if [[ $line != *=* ]]; then
			echo "$file:$n: expected KEY=VALUE, got '$line'" >&2
			return 1
		fi
		key=${line%%=*}
		key=${key%"${key##*[![:space:]]}"}
		value=${line#*=}
		value=${value#"${value%%[![:space:]]*}"}
		case $key in
		SOFTMIG) SM_SOFTMIG=$value ;;
		SOCKET) SM_SOCKET=$value ;;
		CONFIG_DIR) SM_CONFIG_DIR=$value ;;
		STATE_DIR) SM_STATE_DIR=$value ;;
		LIBRARY) SM_LIBRARY=$value ;;
		SLICES) SM_SLICES=$value ;;
		REPORT_DIR) SM_REPORT_DIR=$value ;;
		REPORT_TO_JOB_OUTPUT)
			case ${value,,} in
			yes | true | 1) SM_REPORT_TO_JOB_OUTPUT=yes ;;
			no | false | 0) SM_REPORT_TO_JOB_OUTPUT=no ;;
			*) echo "$file:$n: REPORT_TO_JOB_OUTPUT must be yes or no, got '$value'" >&2; return 1 ;;
			esac ;;
		ADMIN_COMMENT)
			case ${value,,} in
			auto) SM_ADMIN_COMMENT=auto ;;
			yes | true | 1) SM_ADMIN_COMMENT=yes ;;
			no | false | 0) SM_ADMIN_COMMENT=no ;;
			*) echo "$file:$n: ADMIN_COMMENT must be auto, yes or no, got '$value'" >&2; return 1 ;;
			esac ;;
		SACCTMGR) SM_SACCTMGR=$value ;;
		LOG_FILE) SM_LOG_FILE=$value ;;
		USER_LOG_DIR) SM_USER_LOG_DIR=$value ;;
		MPS_BASE_DIR)
			[[ $value =~ ^/[A-Za-z0-9._/-]*$ && ! $value =~ (^|/)\.\.(/|$) ]] ||
				{ echo "$file:$n: MPS_BASE_DIR must be an absolute path of letters, digits, '.', '_', '-' and '/', got '$value'" >&2; return 1; }
			SM_MPS_BASE_DIR=${value%/} ;;
		PLACE_TIMEOUT)
			[[ $value =~ ^[0-9]+$ ]] || { echo "$file:$n: PLACE_TIMEOUT must be whole seconds, got '$value'" >&2; return 1; }
			SM_PLACE_TIMEOUT=$value ;;
		*) echo "$file:$n: unknown setting '$key'" >&2; return 1 ;;
		esac
	done <"$file"
}

# sm_valid_size SIZE: the size syntax of docs/ARCHITECTURE.md (24G, 1.5GiB, 12288M, bytes).
sm_valid_size() {
	[[ ${1^^} =~ ^[0-9]+(\.[0-9]{1,12})?([KMGT](I?B)?|B)?$ ]]
}

# sm_valid_percent PCT: a number in (0, 100].
sm_valid_percent() {
	[[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] || return 1
	awk -v p="$1" 'BEGIN { exit !(p > 0 && p <= 100) }'
}

# sm_slice_lookup TYPE [FILE]: prints "MEMORY SM" for a slice type of the slice table, and
# "MEMORY SM mps" for a type shared through MPS (a third field `mps`; `time-slicing`, the
# default, prints nothing more). Returns 1 when TYPE is not a slice type (a full-GPU job), 2
# when the table is broken.
sm_slice_lookup() {
	local want=$1 file=${2:-$SM_SLICES} n=0 line name rest mem sm sharing found=""
	[[ -r $file ]] || { echo "cannot read slice table $file" >&2; return 2; }
	while IFS= read -r line || [[ -n $line ]]; do
		n=$((n + 1))
		line=${line%%#*}
		[[ $line =~ ^[[:space:]]*$ ]] && continue
		if [[ ! $line =~ ^[[:space:]]*([A-Za-z0-9._-]+)[[:space:]]*=[[:space:]]*([^,[:space:]]+)[[:space:]]*,[[:space:]]*([^,[:space:]]+)[[:space:]]*(,[[:space:]]*([^,[:space:]]+)[[:space:]]*)?$ ]]; then
			echo "$file:$n: expected 'TYPE = MEMORY, SM_PERCENT[, mps]', got '$line'" >&2
			return 2
		fi
		name=${BASH_REMATCH[1]} mem=${BASH_REMATCH[2]} sm=${BASH_REMATCH[3]} sharing=${BASH_REMATCH[5]}
		sm_valid_size "$mem" || { echo "$file:$n: bad memory size '$mem' for $name" >&2; return 2; }
		sm_valid_percent "$sm" || { echo "$file:$n: SM percent must be in (0, 100], got '$sm' for $name" >&2; return 2; }
		case $sharing in
		"" | time-slicing) sharing="" ;;
		mps) ;;
		*) echo "$file:$n: sharing must be mps or time-slicing, got '$sharing' for $name" >&2; return 2 ;;
		esac
		[[ $name == "$want" && -z $found ]] && found="$mem $sm${sharing:+ $sharing}"
	done <"$file"
	[[ -n $found ]] || return 1
	echo "$found"
}

# sm_mps_settings MEMORY SM: what an MPS client of a slice gets, as "THREADS PINNED": the SM
# percentage rounded down to a whole percent (at least 1; "-" at 100 %, no limit) and the
# memory as a pinned device memory limit for CUDA ordinal 0 ("0=<MiB>M", rounded up), as
# libsoftmig.so derives them from the job's config file.
sm_mps_settings() {
	awk -v mem="$1" -v sm="$2" 'BEGIN {
		m = toupper(mem); sub(/I?B$/, "", m); sub(/B$/, "", m)
		unit = substr(m, length(m), 1); shift = 1
		if (unit == "K") shift = 2^10; else if (unit == "M") shift = 2^20
		else if (unit == "G") shift = 2^30; else if (unit == "T") shift = 2^40
		if (shift > 1) m = substr(m, 1, length(m) - 1)
		bytes = int(m * shift)
		mib = int((bytes + 1048575) / 1048576)
		threads = int(sm); if (threads < 1) threads = 1
		if (sm + 0 >= 100) threads = "-"
		printf "%s 0=%dM\n", threads, mib
	}'
}

# sm_slice_types [FILE]: every slice type of the table, one per line.
sm_slice_types() {
	local file=${1:-$SM_SLICES} line
	[[ -r $file ]] || return 2
	while IFS= read -r line || [[ -n $line ]]; do
		line=${line%%#*}
		[[ $line =~ ^[[:space:]]*([A-Za-z0-9._-]+)[[:space:]]*= ]] && echo "${BASH_REMATCH[1]}"
	done <"$file"
}

# sm_gpu_types_in TEXT: the gpu GRES types requested in TEXT, one per line, in order. TEXT is
# lines of comma lists as SLURM writes GPU requests, each item anchored whole: SLURM_JOB_GRES
# ("gpu:l40s.2:1", "gpu:l40s.2") and squeue's TRES fields ("gres:gpu:l40s.2:1",
# "gres/gpu:l40s.2=1"). Anything else in TEXT is no request at all.
sm_gpu_types_in() {
	local line item items type
	while IFS= read -r line; do
		IFS=',' read -ra items <<<"$line"
		for item in "${items[@]}"; do
			[[ $item =~ ^(gres[:/])?gpu:([A-Za-z0-9._-]+)([:=][0-9]+)?(\([^,()]*\))?$ ]] || continue
			type=${BASH_REMATCH[2]}
			[[ $type =~ ^[0-9]+$ ]] && continue # a count, no type
			echo "$type"
		done
	done <<<"$1"
}

# sm_squeue FIELD...: the job's fields from `squeue -O`, one per line. Only for fields that
# hold nothing the user chose (never the name, comment, paths or features), so none holds a
# space or a '|'. `squeue --jobs` of an array's first task lists every task of the array: the
# row kept is the one whose JobID is SLURM_JOB_ID and whose ArrayTaskID is one task (or N/A).
sm_squeue() {
	local fields="JobID:40|,ArrayTaskID:40|" f out line
	local -a row
	for f in "$@"; do
		fields+=",$f:4000|"
	done
	out=$(squeue --noheader --all --states=all --jobs="$SLURM_JOB_ID" --Format="$fields" 2>&1) || {
		echo "squeue --jobs $SLURM_JOB_ID failed: $out" >&2
		return 1
	}
	while IFS= read -r line; do
		IFS='|' read -ra row <<<"${line// /}"
		[[ ${row[0]:-} == "$SLURM_JOB_ID" && ${row[1]:-} =~ ^([0-9]+|N/A)$ ]] || continue
		printf '%s\n' "${row[@]:2}"
		return 0
	done <<<"$out"
	echo "squeue does not list job $SLURM_JOB_ID" >&2
	return 1
}

# sm_job_slice: prints "TYPE MEMORY SM" for the job in the environment when it asked for a
# slice type; returns 1 for a job without one (full GPU or no GPU), 2 on a broken table or when
# SLURM cannot be asked. The request comes from slurmd's SLURM_JOB_GRES (SLURM 23.02 on) or
# squeue's TRES fields, never from `scontrol show job`, where the job's name, comment, paths
# and other strings the user chose can look like a GRES request.
sm_job_slice() {
	local text type found rc
	if [[ -n ${SLURM_JOB_GRES:-} ]]; then
		text=$SLURM_JOB_GRES
	else
		text=$(sm_squeue tres-per-job tres-per-node tres-per-socket tres-per-task) || return 2
	fi
	while read -r type; do
		[[ -z $type ]] && continue
		found=$(sm_slice_lookup "$type")
		rc=$?
		((rc == 2)) && return 2
		if ((rc == 0)); then
			echo "$type $found"
			return 0
		fi
	done < <(sm_gpu_types_in "$text")
	return 1
}

# sm_array_task_id: exports SLURM_ARRAY_TASK_ID for an array task when the environment lacks
# it (the Prolog's environment in SLURM 22.05 has no array variables): from squeue.
sm_array_task_id() {
	local id
	[[ -n ${SLURM_ARRAY_TASK_ID:-} ]] && return 0
	id=$(sm_squeue ArrayTaskID) || return 1
	[[ $id =~ ^[0-9]+$ ]] && export SLURM_ARRAY_TASK_ID=$id
	return 0
}

# sm_job_key: how the job is named on disk, the SoftMig way: <jobid>_<arraytaskid> for an
# array task (SLURM_JOB_ID is already unique per task), else <jobid>.
sm_job_key() {
	if [[ -n ${SLURM_ARRAY_TASK_ID:-} ]]; then
		echo "${SLURM_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
	else
		echo "$SLURM_JOB_ID"
	fi
}

sm_valid_job_key() {
	[[ $1 =~ ^[0-9]+(_[0-9]+)?$ ]]
}

sm_config_file() { echo "$SM_CONFIG_DIR/$(sm_job_key).conf"; }
sm_state_file() { echo "$SM_STATE_DIR/$SLURM_JOB_ID.slice"; }

# sm_valid_job_id ID: SLURM job ids are decimal; anything else must never reach a path.
sm_valid_job_id() {
	[[ $1 =~ ^[0-9]+$ ]]
}

# sm_write_root_file PATH MODE < CONTENT: replace PATH atomically (temp file in the same
# directory, then rename), owned by root, never following a symlink planted at PATH.
sm_write_root_file() {
	local path=$1 mode=$2 dir tmp
	dir=${path%/*}
	tmp=$(mktemp "$dir/.${path##*/}.XXXXXX") || return 1
	if ! cat >"$tmp" || ! chown 0:0 "$tmp" || ! chmod "$mode" "$tmp" || ! mv -fT "$tmp" "$path"; then
		rm -f "$tmp"
		return 1
	fi
}

# sm_root_dir DIR: make sure DIR exists, is a real directory owned by root and not writable
# by others; creates it 0755 when missing.
sm_root_dir() {
	local dir=$1
	if [[ ! -e $dir ]]; then
		install -d -m 0755 -o 0 -g 0 "$dir" || return 1
	fi
	if [[ -L $dir || ! -d $dir ]]; then
		echo "$dir is not a directory" >&2
		return 1
	fi
	if [[ $(stat -c '%u' "$dir") != 0 ]]; then
		echo "$dir is not owned by root" >&2
		return 1
	fi
	chmod go-w "$dir"
}

# sm_valid_user NAME: a user name usable as one path component.
sm_valid_user() {
	[[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$ ]]
}

# sm_user_log_dir USER UID: make <SM_USER_LOG_DIR>/<USER>, owned by UID, mode 0700, where the
# job's libsoftmig.so logs. SM_USER_LOG_DIR itself is root's (0755), so nothing in it can be a
# link planted by a user. Prints the directory; returns 1 (with a reason on stderr) when it
# cannot be made.
sm_user_log_dir() {
	local user=$1 uid=$2 dir
	[[ -n $SM_USER_LOG_DIR ]] || return 1
	sm_valid_user "$user" || { echo "user name '$user' is not usable in a path" >&2; return 1; }
	[[ $uid =~ ^[0-9]+$ ]] || { echo "uid '$uid' is not a number" >&2; return 1; }
	sm_root_dir "$SM_USER_LOG_DIR" || return 1
	dir=$SM_USER_LOG_DIR/$user
	if [[ -L $dir || (-e $dir && ! -d $dir) ]]; then
		echo "$dir is not a directory" >&2
		return 1
	fi
	if [[ ! -d $dir ]]; then
		mkdir -m 0700 -- "$dir" 2>/dev/null || [[ -d $dir && ! -L $dir ]] || { echo "cannot make $dir" >&2; return 1; }
	fi
	chown -h -- "$uid" "$dir" && chmod 0700 -- "$dir" || return 1
	echo "$dir"
}

# sm_read_state FILE: sets SLICE_TYPE, SLICE_MEMORY, SLICE_SM, GPU_UUID, PLACE_ERROR and, for an
# MPS slice, SHARING=mps, MPS_PIPE_DIRECTORY, MPS_THREADS, MPS_PINNED from a state file written
# by the Prolog (KEY=VALUE lines, no shell evaluation).
sm_read_state() {
	local key value
	SLICE_TYPE="" SLICE_MEMORY="" SLICE_SM="" GPU_UUID="" PLACE_ERROR=""
	SHARING="" MPS_PIPE_DIRECTORY="" MPS_THREADS="" MPS_PINNED=""
	while IFS='=' read -r key value; do
		case $key in
		SHARING) SHARING=$value ;;
		MPS_PIPE_DIRECTORY) MPS_PIPE_DIRECTORY=$value ;;
		MPS_THREADS) MPS_THREADS=$value ;;
		MPS_PINNED) MPS_PINNED=$value ;;
		SLICE_TYPE) SLICE_TYPE=$value ;;
		SLICE_MEMORY) SLICE_MEMORY=$value ;;
		SLICE_SM) SLICE_SM=$value ;;
		GPU_UUID) GPU_UUID=$value ;;
		PLACE_ERROR) PLACE_ERROR=$value ;;
		esac
	done <"$1"
}
