# shellcheck shell=bash disable=SC2034
# softmig-node.sh - a one-node SLURM with softmig's scripts installed, for the deploy tests.
# Sourced after single-node-slurm.sh and checks.sh.
#
#   sn_setup BASE LIB JAR    install.sh into BASE/softmig, configure and start SLURM with the
#                            Prolog, TaskProlog, Epilog and job_submit.lua; creates the test user
#   sn_teardown              stop SLURM, remove the test user if this run created it
#   sn_submit ARGS...        sbatch --parsable as the test user (environment passed on)
#   sn_out JOBID             the job's output file
#   sn_admin_comment JOBID   the AdminComment the Epilog stored for the job
#
# This SLURM has no accounting storage (no slurmdbd): the scripts get ADMIN_COMMENT=yes, and
# their SACCTMGR is a stand-in
# that takes exactly `sacctmgr -i update job where jobid=ID set AdminComment=TEXT` (the form
# the Epilog uses) and keeps TEXT in BASE/accounting/ID; anything else fails.
#
# The node: two full GPUs (gpu:l40s, GRES indices 0-1, so SLURM's CUDA_VISIBLE_DEVICES is the
# real ordinal), four half slices (gpu:l40s.2) of them and two MPS quarter slices
# (gpu:l40s.mps4, for a GPU the coordinator shares through MPS); partitions gpu-slice-short,
# gpu-slice (the ROUTES of job_submit.lua) and gpu (full GPUs).
# Set before sn_setup: SN_SLICES (slice table text), SN_SCRIPT_SETTINGS (extra
# slurm-scripts.conf lines).

SN_USER=softmig-test
SN_CREATED_USER=no
SN_BASE=""
SN_PREFIX=""
SN_SYSTEM_FILES=()

sn_setup() {
	local B=$1 lib=$2 jar=$3
	SN_BASE=$B
	SN_PREFIX=$B/softmig
	mkdir -p "$B/jobs" "$B/build"
	if ! id "$SN_USER" >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir /nonexistent --shell /bin/bash "$SN_USER" || return 1
		SN_CREATED_USER=yes
	fi
	chown "$SN_USER" "$B/jobs"

	# install.sh writes its tmpfiles.d and logrotate files to the system's paths: remember
	# which of them this run made, for sn_teardown to take away again.
	SN_SYSTEM_FILES=()
	local f
	for f in /usr/lib/tmpfiles.d/softmig.conf /etc/logrotate.d/softmig; do
		[[ -e $f ]] || SN_SYSTEM_FILES+=("$f")
	done
	"$DEPLOY/install.sh" --prefix "$SN_PREFIX" --sysconfdir "$SN_PREFIX/etc" \
		--rundir "$B/run/softmig" --logdir "$B/log/softmig" --statedir "$B/lib/softmig" \
		--unitdir "$SN_PREFIX/systemd" --link-dir "" --lib "$lib" --jar "$jar" >"$B/install.log" ||
		{ cat "$B/install.log"; return 1; }
	if [[ -n ${SN_SLICES:-} ]]; then
		printf '%s\n' "$SN_SLICES" >"$SN_PREFIX/etc/slices.conf"
	fi
	mkdir -p "$B/accounting"
	cat >"$B/build/sacctmgr" <<EOF
#!/bin/bash
printf '%s\\n' "\$*" >>'$B/accounting/calls'
[[ \$# == 7 && \$1 == -i && \$2 == update && \$3 == job && \$4 == where && \$5 =~ ^jobid=([0-9]+(_[0-9]+)?)\$ &&
	\$6 == set && \$7 == AdminComment=* ]] || { echo "sacctmgr stand-in: unexpected arguments" >&2; exit 1; }
printf '%s\\n' "\${7#AdminComment=}" >'$B/accounting/'"\${BASH_REMATCH[1]}"
EOF
	chmod 755 "$B/build/sacctmgr"
	printf 'ADMIN_COMMENT=yes\nSACCTMGR=%s\n%s\n' "$B/build/sacctmgr" "${SN_SCRIPT_SETTINGS:-}" \
		>>"$SN_PREFIX/etc/slurm-scripts.conf"

	SNODE_GRES_CONF="NodeName=@NODE@ Name=gpu Type=l40s Count=2 File=@DEV@/gpu[0-1]
NodeName=@NODE@ Name=gpu Type=l40s.2 Count=4 File=@DEV@/gpu[2-5]
NodeName=@NODE@ Name=gpu Type=l40s.mps4 Count=2 File=@DEV@/gpu[6-7]"
	SNODE_NODE_GRES=gpu:l40s:2,gpu:l40s.2:4,gpu:l40s.mps4:2
	SNODE_PARTITIONS="PartitionName=gpu-slice-short Nodes=@NODE@ Default=YES MaxTime=03:00:00 DefaultTime=00:10:00 State=UP
PartitionName=gpu-slice Nodes=@NODE@ MaxTime=7-00:00:00 DefaultTime=00:10:00 State=UP
PartitionName=gpu Nodes=@NODE@ MaxTime=INFINITE State=UP"
	SNODE_EXTRA="Prolog=$SN_PREFIX/slurm/prolog.sh
PrologFlags=Alloc
TaskProlog=$SN_PREFIX/slurm/task_prolog.sh
Epilog=$SN_PREFIX/slurm/epilog.sh
JobSubmitPlugins=lua"
	SNODE_DEVICES=8
	mkdir -p "$B/etc"
	cp "$SN_PREFIX/slurm/job_submit.lua" "$B/etc/job_submit.lua"
	snode_up "$B"
}

sn_teardown() {
	snode_down
	local f
	for f in "${SN_SYSTEM_FILES[@]}"; do rm -f -- "$f"; done
	SN_SYSTEM_FILES=()
	if [[ $SN_CREATED_USER == yes ]]; then
		userdel "$SN_USER" 2>/dev/null
		SN_CREATED_USER=no
	fi
}

sn_submit() {
	runuser -u "$SN_USER" -- env SLURM_CONF="$SLURM_CONF" PATH="$PATH" ${SN_SUBMIT_ENV:-} \
		sbatch --parsable -D "$SN_BASE/jobs" -o "$SN_BASE/jobs/job-%j.out" "$@"
}

sn_out() { echo "$SN_BASE/jobs/job-$1.out"; }

# sn_field JOBID KEY: the value of a "KEY=value" line the job printed.
sn_field() { grep -m1 "^$2=" "$(sn_out "$1")" 2>/dev/null | cut -d= -f2-; }

sn_admin_comment() { cat "$SN_BASE/accounting/$1" 2>/dev/null; }

sn_running() { squeue -h -t RUNNING -o %i 2>/dev/null | wc -l; }
