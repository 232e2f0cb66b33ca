#!/bin/bash
# softmig-slice-devices.sh - create the inert device nodes that gres.conf's File= names for
# slice GRES types (SLURM 22.05 requires a File= for every gpu GRES line).
#
#   softmig-slice-devices.sh COUNT [DIR]     creates DIR/slice0 .. DIR/slice<COUNT-1>
#
# DIR defaults to /dev/softmig. Character devices with major 240 (local/experimental use) and
# minor = index: nothing answers them, they only give SLURM distinct files to hand out. Run
# at boot before slurmd (the systemd unit softmig-coordinator.service does, see
# SLICE_DEVICES in /etc/softmig/softmig.env). Idempotent.
set -eu
count=${1:?usage: softmig-slice-devices.sh COUNT [DIR]}
dir=${2:-/dev/softmig}
[[ $count =~ ^[0-9]+$ ]] || { echo "COUNT must be a number, got '$count'" >&2; exit 2; }
install -d -m 0755 "$dir"
for ((i = 0; i < count; i++)); do
	f=$dir/slice$i
	if [[ -c $f && $(stat -c '%t:%T' "$f") == "f0:$(printf '%x' "$i")" ]]; then
		continue
	fi
	rm -f "$f"
	mknod -m 0666 "$f" c 240 "$i"
done
