# shellcheck shell=bash disable=SC2034
# single-node-slurm.sh - start and stop a real one-node SLURM (Debian 12, SLURM 22.05) for
# tests, without systemd, everything under one base directory. Sourced by the tests.
#
#   snode_install                     apt-get the packages that are missing
#   snode_up BASE [SCRIPTS_DIR]       munged, slurmctld, slurmd; node idle or return 1
#   snode_down                        stop what snode_up started (only our pids), cancel jobs,
#                                     remove the cgroups SLURM left; safe to call twice
#   snode_wait_job JOBID [SECONDS]    wait until the job ended; prints its final state
#
# Before snode_up the caller may set:
#   SNODE_GRES_CONF    gres.conf body   (File= paths may use @DEV@ for BASE/dev)
#   SNODE_NODE_GRES    the node's Gres= value
#   SNODE_PARTITIONS   PartitionName= lines (@NODE@ = the node name)
#   SNODE_EXTRA        more slurm.conf lines (Prolog=, Epilog=, JobSubmitPlugins=, ...)
#   SNODE_DEVICES      how many device nodes BASE/dev/gpuN to create (default 16)
#   SNODE_CTLD_PORT / SNODE_SLURMD_PORT (default 16917 / 16918)
# After snode_up: SLURM_CONF is exported, SNODE_NODE is the node name, SNODE_MODE is
# "cgroup" (proctrack/cgroup) or "linuxproc".

SNODE_BASE=""
SNODE_NODE=$(hostname -s)
SNODE_MODE=""

snode_log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

snode_install() {
	local p need=()
	for p in munge slurmctld slurmd slurm-client; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
	done
	((${#need[@]})) || return 0
	snode_log "installing ${need[*]}"
	apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# _snode_pid PIDFILE PATTERN: the pid in PIDFILE if that process lives and its command line
# contains PATTERN (so a recycled pid is never killed).
_snode_pid() {
	local pid
	[[ -s $1 ]] || return 1
	pid=$(<"$1")
	[[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2" || return 1
	echo "$pid"
}

_snode_stop() {  # PIDFILE PATTERN NAME
	local pid i
	if pid=$(_snode_pid "$1" "$2"); then
		kill -TERM "$pid" 2>/dev/null
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
		snode_log "stopped $3 ($pid)"
	fi
	rm -f "$1"
}

snode_down() {
	local B=$SNODE_BASE ids i pids cg stop_slurmd
	[[ -n $B && -d $B ]] || return 0
	if _snode_pid "$B/run/slurmctld.pid" "$B/etc/slurm.conf" >/dev/null; then
		ids=$(squeue -h -o %i 2>/dev/null)
		if [[ -n $ids ]]; then
			scancel $ids 2>/dev/null
			for i in $(seq 1 60); do
				[[ -z $(squeue -h -o %i 2>/dev/null) ]] && break
				sleep 0.5
			done
		fi
	fi
	# Both take ~2 s to exit: stop them in parallel (wait for these two only, not for other
	# background jobs of the caller).
	_snode_stop "$B/run/slurmd.pid" "$B/etc/slurm.conf" slurmd &
	stop_slurmd=$!
	_snode_stop "$B/run/slurmctld.pid" "$B/etc/slurm.conf" slurmctld &
	wait "$stop_slurmd" $!
	# Stray job processes: only pids inside the cgroups of our node name.
	if [[ -d /sys/fs/cgroup/freezer/slurm_$SNODE_NODE ]]; then
		pids=$(find "/sys/fs/cgroup/freezer/slurm_$SNODE_NODE" -name cgroup.procs -exec cat {} + 2>/dev/null)
		[[ -n $pids ]] && kill -KILL $pids 2>/dev/null && sleep 0.5
	fi
	for cg in /sys/fs/cgroup/*/slurm_"$SNODE_NODE"; do
		[[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	_snode_stop "$B/munge/run/munged.pid" "$B/munge" munged
	rm -f "$B/munge/run/munge.socket.2" "$B/munge/run/munge.socket.2.lock"
	return 0
}

_snode_write_conf() {  # MODE
	local B=$SNODE_BASE pt tp mem
	if [[ $1 == cgroup ]]; then pt=proctrack/cgroup tp=task/cgroup; else pt=proctrack/linuxproc tp=task/none; fi
	mem=$(slurmd -C | grep -oE 'RealMemory=[0-9]+' | head -n 1)
	cat >"$B/etc/slurm.conf" <<EOF
ClusterName=softmigtest
SlurmctldHost=$SNODE_NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$B/munge/run/munge.socket.2
SlurmctldPort=${SNODE_CTLD_PORT:-16917}
SlurmdPort=${SNODE_SLURMD_PORT:-16918}
StateSaveLocation=$B/state
SlurmdSpoolDir=$B/spool
SlurmctldPidFile=$B/run/slurmctld.pid
SlurmdPidFile=$B/run/slurmd.pid
SlurmctldLogFile=$B/log/slurmctld.log
SlurmdLogFile=$B/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=$pt
TaskPlugin=$tp
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
SlurmdParameters=config_overrides
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
KillWait=5
${SNODE_EXTRA:-}
NodeName=$SNODE_NODE NodeAddr=127.0.0.1 CPUs=16 $mem Gres=${SNODE_NODE_GRES:-gpu:4} State=UNKNOWN
${SNODE_PARTITIONS//@NODE@/$SNODE_NODE}
EOF
	printf 'AutoDetect=off\n%s\n' "${SNODE_GRES_CONF//@DEV@/$B/dev}" |
		sed "s/^NodeName=@NODE@/NodeName=$SNODE_NODE/" >"$B/etc/gres.conf"
	cat >"$B/etc/cgroup.conf" <<EOF
CgroupPlugin=autodetect
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=no
ConstrainRAMSpace=no
ConstrainDevices=no
EOF
}

_snode_start() {
	local B=$SNODE_BASE i st
	rm -rf "$B"/state/* "$B"/spool/*
	slurmctld -f "$B/etc/slurm.conf" || return 1
	slurmd -f "$B/etc/slurm.conf" || return 1
	for i in $(seq 1 100); do
		st=$(sinfo -h -n "$SNODE_NODE" -o %T 2>/dev/null)
		[[ $st == idle ]] && return 0
		if ((i > 10)) && ! _snode_pid "$B/run/slurmd.pid" "$B/etc/slurm.conf" >/dev/null; then
			break
		fi
		sleep 0.2
	done
	snode_log "node not idle (state '${st:-?}'); slurmd errors:"
	grep -E 'error|fatal' "$B/log/slurmd.log" 2>/dev/null | tail -n 5 >&2
	return 1
}

snode_up() {
	local B=$1 i
	SNODE_BASE=$B
	export SLURM_CONF=$B/etc/slurm.conf
	mkdir -p "$B"/{etc,state,spool,log,run,dev} "$B"/munge/{etc,run,log,lib} || return 1
	# munged refuses group/other-writable key, log and seed dirs and a socket dir that is not
	# world-searchable.
	chmod 755 "$B" "$B/munge" "$B/munge/run"
	chmod 700 "$B"/munge/{etc,log,lib}
	mungekey --create --force --keyfile="$B/munge/etc/munge.key" || return 1
	munged --socket="$B/munge/run/munge.socket.2" --key-file="$B/munge/etc/munge.key" \
		--log-file="$B/munge/log/munged.log" --pid-file="$B/munge/run/munged.pid" \
		--seed-file="$B/munge/lib/munged.seed" || return 1
	for i in $(seq 1 50); do
		[[ -S $B/munge/run/munge.socket.2 ]] && break
		sleep 0.1
	done
	munge -n -S "$B/munge/run/munge.socket.2" | unmunge -S "$B/munge/run/munge.socket.2" >/dev/null ||
		{ snode_log "munge does not work"; return 1; }

	# gpu GRES lines need File= devices in 22.05 (see deploy/slurm/gres.conf.example).
	for ((i = 0; i < ${SNODE_DEVICES:-16}; i++)); do
		[[ -e $B/dev/gpu$i ]] || mknod "$B/dev/gpu$i" c 240 "$i" 2>/dev/null ||
			ln -s /dev/null "$B/dev/gpu$i" || return 1
	done

	# SLURM 22.05 cannot use cgroup v2 in hybrid mode; cgroup v1 needs a writable freezer.
	SNODE_MODE=cgroup
	if [[ $(stat -fc %T /sys/fs/cgroup) != cgroup2fs ]]; then
		if mkdir "/sys/fs/cgroup/freezer/.snode$$" 2>/dev/null; then
			rmdir "/sys/fs/cgroup/freezer/.snode$$"
		else
			SNODE_MODE=linuxproc
		fi
	fi
	_snode_write_conf "$SNODE_MODE"
	if ! _snode_start; then
		[[ $SNODE_MODE == cgroup ]] || return 1
		snode_log "proctrack/cgroup did not come up, trying proctrack/linuxproc"
		_snode_stop "$B/run/slurmd.pid" "$B/etc/slurm.conf" slurmd
		_snode_stop "$B/run/slurmctld.pid" "$B/etc/slurm.conf" slurmctld
		SNODE_MODE=linuxproc
		_snode_write_conf "$SNODE_MODE"
		_snode_start || return 1
	fi
	snode_log "SLURM up on $SNODE_NODE (proctrack $SNODE_MODE)"
}

snode_job_state() {
	scontrol show job "$1" 2>/dev/null | grep -oE 'JobState=[A-Z_]+' | cut -d= -f2
}

snode_wait_job() {
	local id=$1 limit=${2:-60} st="" i
	for ((i = 0; i < limit * 5; i++)); do
		st=$(snode_job_state "$id")
		case $st in
		COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
			break ;;
		esac
		sleep 0.2
	done
	echo "${st:-UNKNOWN}"
}
