#!/bin/bash
# slurm-e2e.sh - softmig end to end in a real single-node SLURM: the project's Prolog,
# TaskProlog, Epilog and job_submit.lua, a real coordinator on simulated GPUs, and jobs that
# run a CUDA program under libsoftmig.so on the fake CUDA driver.
#
# Checks: a half-slice job sees the half limit and gets CUDA_ERROR_OUT_OF_MEMORY past it; its
# environment cannot raise the limit; slices are spread over the GPUs by placement and never
# over capacity; the config file is root-owned during the job and gone after it; the placement
# is released after the job; a full-GPU job runs without a limit; the job's report is stored
# and its usage line is the one for the job's AdminComment;
# an MPS slice goes to the GPU the coordinator shares through MPS (a third simulated GPU, with the
# coordinator tests' stand-in control daemon) and its process reaches cuInit with the GPU's pipe
# directory and its limits as MPS client settings (the fake driver records them), whatever its
# environment says.
#
# Root, Debian 12 (installs munge and SLURM 22.05 with apt when missing), gcc, the CUDA headers
# (/usr/local/cuda/include or SOFTMIG_CUDA_INCLUDE), and the build outputs (built with Maven
# when missing). Tears everything down on exit; leaves no daemons. KEEP=1 keeps the files.
#   deploy/test/slurm-e2e.sh
set -u
DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOP=$(cd "$DEPLOY/.." && pwd)
. "$DEPLOY/test/lib/checks.sh"
. "$DEPLOY/test/lib/single-node-slurm.sh"
. "$DEPLOY/test/lib/softmig-node.sh"

SPEC=L40S:48G,L40S:48G,L40S:48G
MPS_STAND_IN=$TOP/coordinator/src/test/resources/mps/nvidia-cuda-mps-control
GIB=1073741824
CUDA_INCLUDE=${SOFTMIG_CUDA_INCLUDE:-/usr/local/cuda/include}
SHIM=$TOP/native-shim/build/libsoftmig.so
FAKE=$TOP/native-shim/build/fake-cuda

die() { echo "FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (it starts SLURM)"
command -v gcc >/dev/null || die "needs gcc"
[[ -f $CUDA_INCLUDE/cuda.h ]] || die "no cuda.h in $CUDA_INCLUDE (set SOFTMIG_CUDA_INCLUDE)"

# ------------------------------------------------------------------ build outputs
if [[ ! -f $SHIM || ! -f $FAKE/libcuda.so.1 || ! -f $TOP/coordinator/target/softmig.jar ]]; then
	echo "building (mvn -o -q -B -DskipTests package)"
	(cd "$TOP" && mvn -o -q -B -DskipTests package) || die "the build failed"
fi
[[ -f $SHIM ]] || die "no $SHIM after the build"
[[ -f $FAKE/libcuda.so.1 ]] || die "no fake CUDA driver at $FAKE/libcuda.so.1 after the build"

B=$(mktemp -d /tmp/softmig-e2e.XXXXXX)
chmod 755 "$B"
RUN=$B/run/softmig
SOCK=$RUN/softmig.sock
COORD_PID=""
cleanup() {
	trap '' INT TERM
	sn_teardown
	if [[ -n $COORD_PID ]] && kill -0 "$COORD_PID" 2>/dev/null; then
		kill -TERM -- "-$COORD_PID" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$COORD_PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL -- "-$COORD_PID" 2>/dev/null
		snode_log "stopped coordinator ($COORD_PID)"
	fi
	# the MPS control daemon outlives the coordinator by design
	for d in "$RUN"/mps/*/pipe; do
		[[ -d $d ]] && echo quit | CUDA_MPS_PIPE_DIRECTORY=$d timeout 10 "$MPS_STAND_IN" >/dev/null 2>&1
	done
	[[ ${KEEP:-0} == 1 ]] && echo "kept $B" || rm -rf "$B"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

snode_install || die "cannot install SLURM"

# ------------------------------------------------------------------ programs the jobs run
# Everything a job touches lives under B, readable by the test user.
mkdir -p "$B/build" "$B/fake-cuda"
cp "$FAKE"/lib*.so* "$B/fake-cuda/"
gcc -std=c11 -O2 -Wall -I"$CUDA_INCLUDE" -o "$B/build/alloc-probe" "$DEPLOY/test/alloc-probe.c" \
	-L"$B/fake-cuda" -l:libcuda.so.1 -Wl,-rpath,"$B/fake-cuda" || die "alloc-probe does not build"
chmod -R a+rX "$B/build" "$B/fake-cuda"

# The Prolog and Epilog run with slurmd's bare environment: give the CLI this shell's PATH
# and JAVA_HOME. Both the scripts and the coordinator run the installed softmig command.
cat >"$B/build/softmig-cli" <<EOF
#!/bin/bash
export PATH='$PATH' JAVA_HOME='${JAVA_HOME:-}'
exec '$B/softmig/bin/softmig' "\$@"
EOF
chmod 755 "$B/build/softmig-cli"
CLI=$B/build/softmig-cli

jar=$TOP/coordinator/target/softmig.jar
[[ -f $jar ]] || die "no $jar after the build"
SN_SCRIPT_SETTINGS="SOFTMIG=$CLI
REPORT_TO_JOB_OUTPUT=yes"
sn_setup "$B" "$SHIM" "$jar" || die "SLURM did not come up"
[[ $SNODE_MODE == cgroup ]] ||
	echo "NOTE: proctrack/$SNODE_MODE: the coordinator cannot find jobs through cgroups here"

# ------------------------------------------------------------------ coordinator
mkdir -p "$RUN"
# GPU 2 is shared through MPS, with the pipe directories where the Prolog expects them
# (install.sh made MPS_BASE_DIR <rundir>/mps); the stand-in daemon ends when they are removed
cat >"$B/node.conf" <<EOF
softmig.mps.base-dir = "$RUN/mps"
softmig.mps.control = "$MPS_STAND_IN"
EOF
setsid "$CLI" coordinator --socket "$SOCK" --simulate "$SPEC" --config-dir "$RUN" \
	--node-name "$SNODE_NODE" --state-dir "$B/state" --mps 2 --config "$B/node.conf" >"$B/coordinator.log" 2>&1 &
COORD_PID=$!
for _ in $(seq 1 300); do
	[[ -S $SOCK ]] && "$CLI" status --socket "$SOCK" >/dev/null 2>&1 && break
	kill -0 "$COORD_PID" 2>/dev/null || break
	sleep 0.5
done
if ! "$CLI" status --socket "$SOCK" >/dev/null 2>&1; then
	tail -n 20 "$B/coordinator.log"
	die "the coordinator did not answer on $SOCK"
fi
snode_log "coordinator up (pid $COORD_PID)"

cat >"$B/jobs/probe.sh" <<EOF
#!/bin/bash
# Prints what the job sees as KEY=value lines, then runs alloc-probe under the shim.
conf=$RUN/\$SLURM_JOB_ID.conf
echo "CVD=\${CUDA_VISIBLE_DEVICES-<unset>}"
echo "PRELOAD=\${LD_PRELOAD-<unset>}"
echo "CONF_OWNER=\$(stat -c '%U %a' "\$conf" 2>/dev/null)"
export SOFTMIG_FAKE_INIT_ENV=$B/jobs/init-env-\$SLURM_JOB_ID
echo "PROBE=\$('$B/build/alloc-probe' \${PROBE_ARGS:-})"
EOF
chmod 755 "$B/jobs/probe.sh"
SUBMIT_ENV="SOFTMIG_FAKE_GPUS=$SPEC"

# jf JSON KEY: a number from alloc-probe's JSON line.
jf() { sed -nE "s/.*\"$2\":(-?[0-9]+).*/\1/p" <<<"$1"; }
status_json() { "$CLI" status --socket "$SOCK" --json 2>/dev/null; }

# ------------------------------------------------------------------ a half slice
job=$(SN_SUBMIT_ENV="$SUBMIT_ENV" sn_submit --gres=gpu:l40s.2:1 "$B/jobs/probe.sh")
state=$(snode_wait_job "$job" 120)
check_eq "half-slice job completes" COMPLETED "$state"
p=$(sn_field "$job" PROBE)
echo "  job $job: $p"
check "the job runs on a placed GPU" grep -qE '^GPU-[0-9a-f-]{36}$' <<<"$(sn_field "$job" CVD)"
check_eq "the job sees one GPU" 1 "$(jf "$p" devices)"
check_eq "cuMemGetInfo total is the half limit (24 GiB)" $((24 * GIB)) "$(jf "$p" total_bytes)"
check_eq "past the limit cuMemAlloc gives CUDA_ERROR_OUT_OF_MEMORY" 2 "$(jf "$p" error)"
n=$(jf "$p" allocated_gib)
check "it allocated up to the limit (23-24 GiB), not beyond (got ${n:-none})" test "${n:-0}" -ge 23 -a "${n:-99}" -le 24
check_eq "the config file is root-owned 0644 during the job" "root 644" "$(sn_field "$job" CONF_OWNER)"
check "the config file is gone after the job" test ! -e "$RUN/$job.conf"
check "the placement is released after the job" bash -c "! grep -q '\"job_id\" *: *\"$job\"' <<<'$(status_json)'"
check "the job's report is stored" grep -q "\"$job\"" "$B/log/softmig/reports/$job.json"
check "the report is appended to the job's output" grep -q "^job $job " "$(sn_out "$job")"
report=$(cat "$B/log/softmig/reports/$job.json" 2>/dev/null)
rf() { grep -oE "\"$1\" *: *\"?[^,\"]+" <<<"$report" | head -n 1 | sed -E 's/.*: *"?//'; }
check_eq "the report names the slice's memory limit" $((24 * GIB)) "$(rf memory_limit_bytes)"
check_eq "the report names the job's GPU" "$(sn_field "$job" CVD)" "$(rf gpu_uuid)"
echo "  report: memory peak $(rf memory_peak_bytes) bytes, $(rf oom_refusals) OOM refusals (the job held 24 GiB and was refused once)"
# SLURM accounting: the Epilog's one-line summary for the job's AdminComment. This SLURM has
# no accounting storage (no slurmdbd, so no sacct): the Epilog's sacctmgr is a stand-in that
# checks the command's form and keeps the line (see lib/softmig-node.sh).
ac=$(sn_admin_comment "$job")
echo "  AdminComment: $ac"
check "the Epilog wrote the usage line for the job's AdminComment" grep -qE \
	'^softmig: GPU-[0-9a-f]{8} memory peak [0-9.]+ GiB of 24\.0 GiB, [0-9]+ OOM refusals?, GPU time ([0-9.]+ s|[0-9hms]+), SM share [0-9.]+ % of 50\.0 %$' <<<"$ac"
check_eq "the AdminComment names the job's GPU" "$(cut -c1-12 <<<"$(rf gpu_uuid)")" "$(sed -nE 's/^softmig: (GPU-[0-9a-f]{8}) .*/\1/p' <<<"$ac")"
check_eq "its OOM refusals are the report's" "$(rf oom_refusals)" "$(sed -nE 's/.*, ([0-9]+) OOM refusals?,.*/\1/p' <<<"$ac")"

# ------------------------------------------------------------------ the environment cannot raise it
job=$(SN_SUBMIT_ENV="$SUBMIT_ENV CUDA_DEVICE_MEMORY_LIMIT=48G CUDA_DEVICE_SM_LIMIT=100 SOFTMIG_CONFIG_DIR=/tmp" \
	sn_submit --gres=gpu:l40s.2:1 "$B/jobs/probe.sh")
state=$(snode_wait_job "$job" 120)
p=$(sn_field "$job" PROBE)
echo "  job $job: $p"
check_eq "with CUDA_DEVICE_MEMORY_LIMIT=48G in its environment the job still sees 24 GiB" $((24 * GIB)) "$(jf "$p" total_bytes)"
n=$(jf "$p" allocated_gib)
check "and still cannot allocate past 24 GiB (got ${n:-none})" test "${n:-99}" -le 24 -a "$(jf "$p" error)" == 2

# ------------------------------------------------------------------ spread, never over capacity
jobs=()
for i in 1 2 3 4 5; do
	jobs+=("$(SN_SUBMIT_ENV="$SUBMIT_ENV" sn_submit --gres=gpu:l40s.2:1 \
		--export=ALL,PROBE_ARGS="--max-gib 20 --hold 15" "$B/jobs/probe.sh")")
done
# RUNNING comes before the Prolog has placed the slice: wait for the four config files.
for _ in $(seq 1 300); do
	(($(sn_running) >= 4)) && (($(find "$RUN" -maxdepth 1 -name '*.conf' | wc -l) >= 4)) && break
	sleep 0.2
done
check_eq "four half slices run at once" 4 "$(sn_running)"
check_eq "the fifth waits for a slice" PENDING "$(snode_job_state "${jobs[4]}")"
"$CLI" place --job 999999 --mem 24G --sm 50 --socket "$SOCK" >/dev/null 2>&1
rc=$?
check "the coordinator refuses a fifth half slice on two full GPUs" test "$rc" -ne 0
[[ $rc == 0 ]] && "$CLI" release --job 999999 --socket "$SOCK" >/dev/null 2>&1
all_done=yes
for j in "${jobs[@]}"; do
	[[ $(snode_wait_job "$j" 120) == COMPLETED ]] || all_done=no
done
check_eq "all five complete" yes "$all_done"
per_gpu=$(for j in "${jobs[@]:0:4}"; do sn_field "$j" CVD; done | sort | uniq -c | awk '{ print $1 }' | tr '\n' ' ')
check_eq "the first four are spread two per GPU" "2 2 " "$per_gpu"
held=yes
for j in "${jobs[@]}"; do
	[[ $(jf "$(sn_field "$j" PROBE)" allocated_gib) == 20 ]] || held=no
done
check_eq "each held 20 GiB of its own 24 GiB" yes "$held"
out=$("$CLI" place --job 999998 --mem 48G --sm 100 --socket "$SOCK" 2>&1)
check "after the jobs a whole GPU is free again (placements released)" grep -qE '^GPU-' <<<"$out"
"$CLI" release --job 999998 --socket "$SOCK" >/dev/null 2>&1

# ------------------------------------------------------------------ an MPS slice
mps_uuid=$(status_json | tr -d ' \n' | grep -oE '"uuid":"GPU-[0-9a-f-]+","index":2[,}]' | grep -oE 'GPU-[0-9a-f-]+')
job=$(SN_SUBMIT_ENV="$SUBMIT_ENV CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=100 CUDA_MPS_PIPE_DIRECTORY=/tmp/mine" \
	sn_submit --gres=gpu:l40s.mps4:1 --export=ALL,PROBE_ARGS="--max-gib 4" "$B/jobs/probe.sh")
state=$(snode_wait_job "$job" 120)
p=$(sn_field "$job" PROBE)
echo "  job $job: $p"
check_eq "MPS slice job completes" COMPLETED "$state"
check_eq "it runs on the GPU shared through MPS (GPU 2)" "$mps_uuid" "$(sn_field "$job" CVD)"
check_eq "it sees its slice's memory (12 GiB)" $((12 * GIB)) "$(jf "$p" total_bytes)"
seen=$(cat "$B/jobs/init-env-$job" 2>/dev/null)
check "cuInit saw the GPU's MPS pipe directory, not the job's own" \
	grep -qx "CUDA_MPS_PIPE_DIRECTORY=$RUN/mps/$mps_uuid/pipe" <<<"$seen"
check "cuInit saw the slice's 25 % as active threads, not the job's 100" \
	grep -qx "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25" <<<"$seen"
check "cuInit saw the slice's memory as the pinned memory limit" \
	grep -qx "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=12288M" <<<"$seen"
check "the coordinator runs the GPU's MPS control daemon" grep -q '"state" *: *"ready"' <<<"$(status_json)"
seen=$(cat "$B/jobs/init-env-${jobs[0]}" 2>/dev/null)
check "a half slice's process reached cuInit with no MPS setting" grep -qx "CUDA_MPS_PIPE_DIRECTORY" <<<"$seen"

# ------------------------------------------------------------------ a full GPU
job=$(SN_SUBMIT_ENV="$SUBMIT_ENV" sn_submit -p gpu --gres=gpu:l40s:1 \
	--export=ALL,PROBE_ARGS="--max-gib 40" "$B/jobs/probe.sh")
state=$(snode_wait_job "$job" 120)
p=$(sn_field "$job" PROBE)
echo "  job $job: $p"
check_eq "full-GPU job completes" COMPLETED "$state"
check_eq "full-GPU job runs without the shim" "<unset>" "$(sn_field "$job" PRELOAD)"
check_eq "full-GPU job sees the whole GPU" $((48 * GIB)) "$(jf "$p" total_bytes)"
check_eq "full-GPU job allocates 40 GiB" 40 "$(jf "$p" allocated_gib)"

checks_finish
