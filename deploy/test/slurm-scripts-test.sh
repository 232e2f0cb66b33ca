#!/bin/bash
# slurm-scripts-test.sh - softmig's SLURM scripts (Prolog, TaskProlog, Epilog, job_submit.lua)
# in a real single-node SLURM, with a stub in place of the softmig command. Checks what the
# scripts do, not what the coordinator or the shim do (slurm-e2e.sh does that).
#
# Root, Debian 12 (installs munge and SLURM 22.05 with apt when missing). Leaves no daemons.
# KEEP=1 keeps the base directory for a look afterwards.
#   deploy/test/slurm-scripts-test.sh
set -u
DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$DEPLOY/test/lib/checks.sh"
. "$DEPLOY/test/lib/single-node-slurm.sh"
. "$DEPLOY/test/lib/softmig-node.sh"

[[ $(id -u) == 0 ]] || { echo "slurm-scripts-test.sh: run as root (it starts SLURM)" >&2; exit 2; }
command -v gcc >/dev/null || { echo "slurm-scripts-test.sh: needs gcc" >&2; exit 2; }

B=$(mktemp -d /tmp/softmig-scripts-test.XXXXXX)
chmod 755 "$B"
cleanup() {
	trap '' INT TERM
	sn_teardown
	[[ ${KEEP:-0} == 1 ]] && echo "kept $B" || rm -rf "$B"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

snode_install || { echo "FAIL: cannot install SLURM"; exit 1; }

# A do-nothing library in place of libsoftmig.so, and a preload of the user's own.
mkdir -p "$B/build"
echo 'void softmig_test_stub(void) {}' | gcc -shared -fPIC -x c - -o "$B/build/libsoftmig.so"
echo 'void user_preload(void) {}' | gcc -shared -fPIC -x c - -o "$B/build/userpre.so"
chmod 755 "$B/build" && chmod 644 "$B/build/userpre.so"
echo "not a jar" >"$B/build/softmig.jar"

SN_SCRIPT_SETTINGS="REPORT_TO_JOB_OUTPUT=yes"
sn_setup "$B" "$B/build/libsoftmig.so" "$B/build/softmig.jar" || { echo "FAIL: SLURM did not come up"; exit 1; }
cp "$DEPLOY/test/stub-softmig.sh" "$SN_PREFIX/bin/softmig"
STUB=$SN_PREFIX/bin/stub
RUN=$B/run/softmig
LIB=$SN_PREFIX/lib/libsoftmig.so

cat >"$B/jobs/show.sh" <<EOF
#!/bin/bash
# Prints what the job sees as KEY=value lines.
conf=$RUN/\$SLURM_JOB_ID.conf
[[ -n \${SLURM_ARRAY_TASK_ID:-} ]] && conf=$RUN/\${SLURM_JOB_ID}_\${SLURM_ARRAY_TASK_ID}.conf
echo "CVD=\${CUDA_VISIBLE_DEVICES-<unset>}"
echo "ARRAY_JOB=\${SLURM_ARRAY_JOB_ID:-}"
echo "CONF_NAME=\${conf##*/}"
echo "PRELOAD=\${LD_PRELOAD-<unset>}"
echo "SOCKET=\${SOFTMIG_SOCKET-<unset>}"
echo "LOGFILE=\${SOFTMIG_LOG_FILE-<unset>}"
echo "PARTITION=\$SLURM_JOB_PARTITION"
echo "CONF_OWNER=\$(stat -c '%U %a' "\$conf" 2>/dev/null)"
echo "CONF_MEM=\$(grep -m1 '^CUDA_DEVICE_MEMORY_LIMIT=' "\$conf" 2>/dev/null | cut -d= -f2)"
echo "CONF_SM=\$(grep -m1 '^CUDA_DEVICE_SM_LIMIT=' "\$conf" 2>/dev/null | cut -d= -f2)"
echo "CONF_PIPE=\$(grep -m1 '^CUDA_MPS_PIPE_DIRECTORY=' "\$conf" 2>/dev/null | cut -d= -f2)"
echo "MPS_PIPE=\${CUDA_MPS_PIPE_DIRECTORY-<unset>}"
echo "MPS_THREADS=\${CUDA_MPS_ACTIVE_THREAD_PERCENTAGE-<unset>}"
echo "MPS_PINNED=\${CUDA_MPS_PINNED_DEVICE_MEM_LIMIT-<unset>}"
echo "STEP_CVD=\$(srun -n1 printenv CUDA_VISIBLE_DEVICES)"
sleep \${HOLD:-0}
EOF
chmod 755 "$B/jobs/show.sh"

# ------------------------------------------------------------------ job_submit.lua
err=$(sn_submit --gres=gpu:l40s.2:2 "$B/jobs/show.sh" 2>&1)
check "two slices in one job are refused at submission" grep -q "one GPU slice" <<<"$err"

# ------------------------------------------------------------------ one half slice
job=$(SN_SUBMIT_ENV="LD_PRELOAD=$B/build/userpre.so" sn_submit --gres=gpu:l40s.2:1 "$B/jobs/show.sh")
state=$(snode_wait_job "$job" 60)
check_eq "half-slice job completes" COMPLETED "$state"
check_eq "job without partition is routed to gpu-slice-short" gpu-slice-short "$(sn_field "$job" PARTITION)"
uuid=$(sn_field "$job" CVD)
check "CUDA_VISIBLE_DEVICES is the placed GPU's UUID" grep -qE '^GPU-0{8}-0{4}-0{4}-0{4}-0{11}[01]$' <<<"$uuid"
check_eq "srun steps get the same GPU" "$uuid" "$(sn_field "$job" STEP_CVD)"
check_eq "LD_PRELOAD has softmig first and keeps the user's preload" "$LIB:$B/build/userpre.so" "$(sn_field "$job" PRELOAD)"
check_eq "SOFTMIG_SOCKET is exported for a non-default socket" "$RUN/softmig.sock" "$(sn_field "$job" SOCKET)"
check_eq "config file is root-owned 0644 during the job" "root 644" "$(sn_field "$job" CONF_OWNER)"
check_eq "config file has the slice's memory limit" 24G "$(sn_field "$job" CONF_MEM)"
check_eq "config file has the slice's SM limit" 50 "$(sn_field "$job" CONF_SM)"
check "config file is gone after the job" test ! -e "$RUN/$job.conf"
check "state file is gone after the job" test ! -e "$RUN/jobs/$job.slice"
check "placement is released after the job" test ! -s "$STUB/placements"
check "the Prolog placed the job with the slice's size" grep -qx "place --job $job --mem 24G --sm 50 --user $SN_USER --socket $RUN/softmig.sock" "$STUB/calls"
check "the job's JSON report is stored" grep -q "\"job_id\":\"$job\"" "$B/log/softmig/reports/$job.json"
check "the report is appended to the job's output" grep -q "^Job $job on GPU-" "$(sn_out "$job")"
check_eq "the Epilog wrote the job's usage line to its AdminComment" \
	"softmig: GPU-00000000 memory peak 0 B of $((24 << 30)) bytes, 0 OOM refusals" "$(sn_admin_comment "$job")"
check_eq "the job's output stays the user's" "$SN_USER" "$(stat -c %U "$(sn_out "$job")")"
check_eq "a time-slicing slice gets no MPS pipe directory" "<unset>" "$(sn_field "$job" MPS_PIPE)"

# ------------------------------------------------------------------ an MPS slice
job=$(sn_submit --gres=gpu:l40s.mps4:1 "$B/jobs/show.sh")
state=$(snode_wait_job "$job" 60)
check_eq "MPS slice job completes" COMPLETED "$state"
uuid=$(sn_field "$job" CVD)
check "the Prolog placed it with --mps" grep -qx "place --job $job --mem 12G --sm 25 --mps --user $SN_USER --socket $RUN/softmig.sock" "$STUB/calls"
check_eq "its config file names the GPU's MPS pipe directory" "$RUN/mps/$uuid/pipe" "$(sn_field "$job" CONF_PIPE)"
check_eq "the task gets the pipe directory" "$RUN/mps/$uuid/pipe" "$(sn_field "$job" MPS_PIPE)"
check_eq "the task gets its SM share as active threads" 25 "$(sn_field "$job" MPS_THREADS)"
check_eq "the task gets its memory as the pinned memory limit" 0=12288M "$(sn_field "$job" MPS_PINNED)"
check_eq "and softmig's limits as for any slice" "12G 25" "$(sn_field "$job" CONF_MEM) $(sn_field "$job" CONF_SM)"
check "its config file is gone after the job" test ! -e "$RUN/$job.conf"

# ------------------------------------------------------------------ a full GPU
job=$(sn_submit -p gpu --gres=gpu:l40s:1 "$B/jobs/show.sh")
state=$(snode_wait_job "$job" 60)
check_eq "full-GPU job completes" COMPLETED "$state"
check "full-GPU job keeps SLURM's CUDA_VISIBLE_DEVICES" grep -qE '^[01]$' <<<"$(sn_field "$job" CVD)"
check_eq "full-GPU job gets no LD_PRELOAD" "<unset>" "$(sn_field "$job" PRELOAD)"
check "full-GPU job is not placed" bash -c "! grep -q -- '--job $job ' '$STUB/calls'"
check_eq "full-GPU job gets no config file" "" "$(sn_field "$job" CONF_OWNER)"

# ------------------------------------------------------------------ per-user log directory
logdir=$B/log/softmig/users/$SN_USER
check_eq "the Prolog made the user's log directory, the user's own, 0700" "$SN_USER 700 directory" \
	"$(stat -c '%U %a %F' "$logdir" 2>/dev/null)"
job=$(sn_submit --gres=gpu:l40s.2:1 "$B/jobs/show.sh")
snode_wait_job "$job" 60 >/dev/null
check_eq "the TaskProlog points libsoftmig.so's log there" "$logdir/$job.log" "$(sn_field "$job" LOGFILE)"

# ------------------------------------------------------------------ hostile names and comments
# Before SLURM 23.02 the Prolog must ask slurmctld for the job's GPU request; the job's name,
# comment and other text of its own must never read as one.
hostile="GRES=gpu:l40s.2:1 TresPerNode=gres:gpu:l40s.2:1 gpu:l40s.2"
job=$(sn_submit -J "$hostile" --comment "$hostile" "$B/jobs/show.sh")
check_eq "a CPU job named and commented like a slice request completes" COMPLETED "$(snode_wait_job "$job" 60)"
check "and is not placed" bash -c "! grep -q -- '--job $job ' '$STUB/calls'"
check_eq "and gets no LD_PRELOAD" "<unset>" "$(sn_field "$job" PRELOAD)"
job=$(sn_submit -p gpu --gres=gpu:l40s:1 -J "GRES=gpu:l40s.2:1" --comment "TresPerNode=gres:gpu:l40s.2:1" "$B/jobs/show.sh")
check_eq "a full-GPU job named like a slice request completes" COMPLETED "$(snode_wait_job "$job" 60)"
check "and is not placed" bash -c "! grep -q -- '--job $job ' '$STUB/calls'"
job=$(sn_submit --gres=gpu:l40s.2:1 -J "GRES=gpu:l40s.4:1" --comment "TresPerNode=gres:gpu:l40s.4:1" "$B/jobs/show.sh")
check_eq "a half slice named like a quarter completes" COMPLETED "$(snode_wait_job "$job" 60)"
check "and is placed as the half it asked for" grep -qx "place --job $job --mem 24G --sm 50 --user $SN_USER --socket $RUN/softmig.sock" "$STUB/calls"

# ------------------------------------------------------------------ capacity and spread
jobs=()
for i in 1 2 3 4 5; do
	jobs+=("$(SN_SUBMIT_ENV=HOLD=6 sn_submit --gres=gpu:l40s.2:1 "$B/jobs/show.sh")")
done
for i in $(seq 1 100); do
	(($(sn_running) >= 4)) && [[ $(wc -l <"$STUB/placements") -ge 4 ]] && break
	sleep 0.2
done
sleep 1
check_eq "four half slices run at once on two GPUs" 4 "$(sn_running)"
check_eq "the fifth waits for a slice" PENDING "$(snode_job_state "${jobs[4]}")"
per_gpu=$(awk '{ n[$2]++ } END { for (u in n) print n[u] }' "$STUB/placements" | sort | tr '\n' ' ')
check_eq "two halves on each GPU" "2 2 " "$per_gpu"
all_done=yes
for j in "${jobs[@]}"; do
	[[ $(snode_wait_job "$j" 60) == COMPLETED ]] || all_done=no
done
check_eq "all five complete" yes "$all_done"
check "no placement is left" test ! -s "$STUB/placements"

# ------------------------------------------------------------------ refused placement
echo "no GPU has 24G free" >"$STUB/refuse"
job=$(sn_submit --gres=gpu:l40s.2:1 "$B/jobs/show.sh")
state=$(snode_wait_job "$job" 60)
rm -f "$STUB/refuse"
check "a job whose slice cannot be placed fails" test "$state" != COMPLETED
check "and is told why" grep -q "no l40s.2 slice could be placed.*no GPU has 24G free" "$(sn_out "$job")"
check "the node stays in service" bash -c "! sinfo -h -n '$SNODE_NODE' -o %T | grep -qiE 'drain|down|fail'"
check "no config file is left" test ! -e "$RUN/$job.conf"

# ------------------------------------------------------------------ array job
array=$(sn_submit --array=1-2 --gres=gpu:l40s.2:1 "$B/jobs/show.sh")
for i in $(seq 1 150); do
	[[ -z $(squeue -h -j "$array" -o %i 2>/dev/null) ]] && break
	sleep 0.2
done
ok=0
for f in $(grep -l "^ARRAY_JOB=$array\$" "$B"/jobs/job-*.out); do
	grep -qE '^CONF_NAME=[0-9]+_[12]\.conf$' "$f" && grep -q '^CONF_OWNER=root 644$' "$f" &&
		grep -q '^CONF_MEM=24G$' "$f" && ok=$((ok + 1))
done
check_eq "array tasks get a root-owned <jobid>_<taskid>.conf" 2 "$ok"
check_eq "array tasks are placed as <jobid>_<taskid>" 2 "$(grep -cE '^place --job [0-9]+_[12] ' "$STUB/calls")"
check_eq "and released under the same name" 2 "$(grep -cE '^release --job [0-9]+_[12] ' "$STUB/calls")"
check "no config files are left" test -z "$(find "$RUN" -maxdepth 1 -name '*.conf')"
check "no state files are left" test -z "$(find "$RUN/jobs" -name '*.slice')"

checks_finish
