#!/bin/bash
# install-test.sh - deploy/install.sh into scratch directories: files, modes, idempotence,
# site files kept, paths rewritten, the unit checked with `systemd-analyze verify` where
# available. Needs gcc (builds a stand-in library); runs as any user (owners only as root).
#   deploy/test/install-test.sh
set -u
DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$DEPLOY/test/lib/checks.sh"

T=$(mktemp -d /tmp/softmig-install-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/build"
echo 'void softmig_test_stub(void) {}' | gcc -shared -fPIC -x c - -o "$T/build/libsoftmig.so" ||
	{ echo "FAIL: gcc"; exit 1; }
echo "jar v1" >"$T/build/softmig.jar"
INSTALL=("$DEPLOY/install.sh" --lib "$T/build/libsoftmig.so" --jar "$T/build/softmig.jar")

mode() { stat -c '%a' "$1" 2>/dev/null; }

# ------------------------------------------------------------------ into a scratch root
R=$T/root
out=$("${INSTALL[@]}" --root "$R" 2>&1)
check "install.sh --root succeeds" test $? -eq 0
for f in opt/softmig/bin/softmig opt/softmig/bin/softmig-cluster-certs opt/softmig/lib/libsoftmig.so opt/softmig/slurm/prolog.sh \
	opt/softmig/slurm/task_prolog.sh opt/softmig/slurm/epilog.sh opt/softmig/slurm/softmig-slice-devices.sh; do
	check_eq "$f is installed 0755" 755 "$(mode "$R/$f")"
done
for f in opt/softmig/lib/softmig.jar opt/softmig/slurm/softmig-slurm.sh opt/softmig/slurm/job_submit.lua \
	opt/softmig/slurm/gres.conf.example opt/softmig/slurm/slurm.conf.fragment \
	etc/softmig/slices.conf etc/softmig/slurm-scripts.conf etc/softmig/softmig.conf etc/softmig/softmig.env \
	etc/systemd/system/softmig-coordinator.service etc/logrotate.d/softmig usr/lib/tmpfiles.d/softmig.conf; do
	check_eq "$f is installed 0644" 644 "$(mode "$R/$f")"
done
for d in run/softmig run/softmig/jobs var/log/softmig var/log/softmig/reports; do
	check_eq "$d is a 0755 directory" 755 "$(mode "$R/$d")"
done
check_eq "var/lib/softmig is a 0700 directory" 700 "$(mode "$R/var/lib/softmig")"
check "tmpfiles makes the state directory root-only" \
	grep -qx "d /var/lib/softmig 0700 root root -" "$R/usr/lib/tmpfiles.d/softmig.conf"
check_eq "softmig is linked into /usr/local/bin" /opt/softmig/bin/softmig "$(readlink "$R/usr/local/bin/softmig")"
if [[ $(id -u) == 0 ]]; then
	check_eq "installed files are owned by root" "" "$(find "$R" ! -user root | head -n 3)"
fi
check "the wrapper runs the installed jar" grep -q -- '-jar "/opt/softmig/lib/softmig.jar"' "$R/opt/softmig/bin/softmig"
check "job_submit.lua reads the installed slice table" grep -q '^local SLICES_FILE = "/etc/softmig/slices.conf"' "$R/opt/softmig/slurm/job_submit.lua"

# ------------------------------------------------------------------ again: idempotent, keeps site files
echo "l40s.3 = 16G, 33" >>"$R/etc/softmig/slices.conf"
ino_before=$(stat -c %i "$R/opt/softmig/lib/libsoftmig.so")
out=$("${INSTALL[@]}" --root "$R" 2>&1)
check "a second install.sh succeeds" test $? -eq 0
check "a second install.sh changes no installed program" bash -c "! grep -q '^installed /opt' <<<'$out'"
check_eq "an unchanged library is not replaced" "$ino_before" "$(stat -c %i "$R/opt/softmig/lib/libsoftmig.so")"
check "the site's slices.conf is kept" grep -q '^l40s.3 = 16G, 33$' "$R/etc/softmig/slices.conf"
check "the shipped slices.conf is put beside it" test -f "$R/etc/softmig/slices.conf.new"

# ------------------------------------------------------------------ upgrade: replaced by rename
echo "jar v2" >"$T/build/softmig.jar"
exec 8<"$R/opt/softmig/lib/softmig.jar"   # a running coordinator holds its jar open
"${INSTALL[@]}" --root "$R" >/dev/null 2>&1
check "a new jar is installed" grep -q "jar v2" "$R/opt/softmig/lib/softmig.jar"
check "a process still reading the old jar sees it unchanged" grep -q "jar v1" <&8
exec 8<&-

# ------------------------------------------------------------------ other paths
P=$T/prefix
"${INSTALL[@]}" --prefix "$P/opt" --sysconfdir "$P/etc" --unitdir "$P/unit" --rundir "$P/run" \
	--logdir "$P/log" --statedir "$P/state" --link-dir "" >/dev/null 2>&1
check "install.sh with other paths succeeds" test -x "$P/opt/bin/softmig"
lib=$P/opt/slurm/softmig-slurm.sh
check "the scripts read the chosen config directory" grep -qx "SOFTMIG_SYSCONFDIR=$P/etc" "$lib"
check "the scripts use the chosen socket" grep -qx "SM_SOCKET=$P/run/softmig.sock" "$lib"
check "the certificate script writes for the chosen config directory" \
	grep -q 'TLS_DIR=${TLS_DIR:-'"$P/etc/tls"'}' "$P/opt/bin/softmig-cluster-certs"
check "the scripts keep the library's built-in socket as default" grep -qx "SM_DEFAULT_SOCKET=/run/softmig/softmig.sock" "$lib"
check "the unit runs the chosen program and config" \
	grep -qx "ExecStart=$P/opt/bin/softmig coordinator --config $P/etc/softmig.conf" "$P/unit/softmig-coordinator.service"
check "the unit reads the chosen environment file" grep -qx "EnvironmentFile=-$P/etc/softmig.env" "$P/unit/softmig-coordinator.service"
check "no default path is left in the unit" bash -c "! grep -qE '(^|[= ])/(opt|etc)/softmig' '$P/unit/softmig-coordinator.service'"
check_eq "the chosen state directory is made 0700" 700 "$(mode "$P/state")"
check "a bad option is refused" bash -c "! '$DEPLOY/install.sh' --bogus 2>/dev/null"
check "a missing library is refused with its name" \
	bash -c "'$DEPLOY/install.sh' --root '$T/x' --lib '$T/none.so' --jar '$T/build/softmig.jar' 2>&1 | grep -q 'none.so'"

# ------------------------------------------------------------------ systemd
if command -v systemd-analyze >/dev/null 2>&1; then
	out=$(systemd-analyze verify --man=no "$P/unit/softmig-coordinator.service" 2>&1)
	rc=$?
	[[ -n $out ]] && echo "$out"
	check "systemd-analyze verify accepts the unit" test "$rc" -eq 0
else
	echo "SKIP: systemd-analyze not available"
fi

checks_finish
