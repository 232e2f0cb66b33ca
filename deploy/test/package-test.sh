#!/bin/bash
# package-test.sh - the .deb and the .rpm that `mvn package` writes into deploy/packaging/target/.
#
# Both: every file a node needs is in them (coordinator jar, bin/softmig and the /usr/bin link,
# libsoftmig.so, the systemd unit, tmpfiles, logrotate, the SLURM scripts and job_submit.lua
# as examples, bash completion, man pages), with the right modes; the site files are
# configuration files; they depend on the distribution's Java 17 runtime; the maintainer
# scripts parse.
#
# The .deb is installed for real, with `dpkg -i` into this system, when that is safe: as root,
# with Java 17 installed as a Debian package, and nothing of softmig on the machine (no
# softmig package, none of its paths, no coordinator socket). The postinst must have made the
# runtime and log directories (tmpfiles.d). Then the service starts as its unit says: the
# unit's Environment/EnvironmentFile, ExecStartPre and ExecStart lines, read from the
# installed unit file, are run without systemd (CI has none running); `softmig status`
# must answer on the default socket; SIGTERM (systemd's stop) must end it within the unit's
# TimeoutStopSec. Then `dpkg --purge` must leave none of the package's files, and the test
# removes the directories the postinst and the service made. Elsewhere the .deb is only
# unpacked (dpkg -x), with a NOTE saying why.
#
# The .rpm, with the rpm tool (Debian package `rpm`, which .ci/run installs): its file list,
# modes, requirements, configuration files and scriptlets, then installed into a scratch root
# (rpm --root, without dependencies or scriptlets: this is no Rocky machine) and erased again.
#
#   deploy/test/package-test.sh            SOFTMIG_PACKAGE_INSTALL=no: never dpkg -i
set -u
DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$DEPLOY/test/lib/checks.sh"

OUT=$DEPLOY/packaging/target
die() { echo "FAIL: $*"; echo "$CHECKS_PASSED passed, $((CHECKS_FAILED + 1)) failed"; exit 1; }
newest() { ls -1t "$@" 2>/dev/null | head -n 1; }
deb=$(newest "$OUT"/softmig_*_amd64.deb)
rpmfile=$(newest "$OUT"/softmig-*.x86_64.rpm)
[[ -n $deb ]] || die "no .deb in $OUT (build it: deploy/packaging/build.sh)"
[[ -n $rpmfile ]] || die "no .rpm in $OUT (build it: deploy/packaging/build.sh)"
echo "packages: ${deb##*/} ${rpmfile##*/}"

T=$(mktemp -d /tmp/softmig-package-test.XXXXXX)
chmod 755 "$T"

# Every package holds these (path, mode); the man pages and completion are generated.
PROGRAMS=(opt/softmig/bin/softmig opt/softmig/lib/libsoftmig.so opt/softmig/slurm/prolog.sh
	opt/softmig/slurm/task_prolog.sh opt/softmig/slurm/epilog.sh opt/softmig/slurm/softmig-slice-devices.sh)
DATA=(opt/softmig/lib/softmig.jar opt/softmig/slurm/softmig-slurm.sh opt/softmig/slurm/job_submit.lua
	opt/softmig/slurm/gres.conf.example opt/softmig/slurm/slurm.conf.fragment
	usr/lib/systemd/system/softmig-coordinator.service usr/lib/tmpfiles.d/softmig.conf
	etc/logrotate.d/softmig usr/share/bash-completion/completions/softmig
	usr/share/man/man1/softmig.1.gz usr/share/man/man1/softmig-coordinator.1.gz
	usr/share/man/man1/softmig-place.1.gz usr/share/man/man1/softmig-release.1.gz
	usr/share/man/man1/softmig-status.1.gz usr/share/man/man1/softmig-report.1.gz)
CONFIG=(etc/softmig/softmig.conf etc/softmig/softmig.env etc/softmig/slices.conf
	etc/softmig/slurm-scripts.conf etc/logrotate.d/softmig)
UNIT=/usr/lib/systemd/system/softmig-coordinator.service

# ================================================================== the .deb: contents
listing=$(dpkg-deb -c "$deb") || die "dpkg-deb cannot read $deb"
# mode PATH: the permission string dpkg-deb lists for ./PATH
deb_mode() { awk -v p="./$1" '$6 == p { print $1 }' <<<"$listing"; }
for f in "${PROGRAMS[@]}"; do
	check_eq ".deb: /$f, 0755" -rwxr-xr-x "$(deb_mode "$f")"
done
for f in "${DATA[@]}" "${CONFIG[@]}"; do
	check_eq ".deb: /$f, 0644" -rw-r--r-- "$(deb_mode "$f")"
done
check ".deb: /usr/bin/softmig links to /opt/softmig/bin/softmig" \
	grep -qE '^l.* \./usr/bin/softmig -> /opt/softmig/bin/softmig$' <<<"$listing"
check_eq ".deb: every file belongs to root" "" "$(awk '$2 != "root/root" { print $6 }' <<<"$listing")"
depends=$(dpkg-deb -f "$deb" Depends)
check ".deb depends on a Java 17 runtime (got '$depends')" grep -qE '(^|[ ,|])openjdk-17-jre-headless([ ,|]|$)' <<<"$depends"
dpkg-deb -e "$deb" "$T/control" || die "dpkg-deb -e failed"
for f in "${CONFIG[@]}"; do
	check ".deb: /$f is a conffile" grep -qx "/$f" "$T/control/conffiles"
done
for s in postinst postrm; do
	check ".deb: its $s parses" sh -n "$T/control/$s"
done
dpkg -x "$deb" "$T/x" || die "dpkg -x failed"
check ".deb: libsoftmig.so is an ELF shared object" bash -c \
	"[[ \$(head -c 4 '$T/x/opt/softmig/lib/libsoftmig.so' | od -An -c | tr -d ' ') == '177ELF' ]]"
check ".deb: the man page is troff" bash -c "zcat '$T/x/usr/share/man/man1/softmig-place.1.gz' | grep -q '^\.TH'"
check ".deb: the completion completes softmig" bash -c \
	". '$T/x/usr/share/bash-completion/completions/softmig' && complete -p softmig >/dev/null"

# ================================================================== the .deb: installed for real
# unit_lines KEY: the values of KEY= lines of the [Service] section of the installed unit.
unit_lines() {
	awk -v k="$1" '/^\[/ { s = ($0 == "[Service]") } s && index($0, k "=") == 1 { print substr($0, length(k) + 2) }' "$UNIT"
}

# The environment systemd gives the service: Environment= then EnvironmentFile= (KEY=VALUE
# lines taken literally; a leading '-' means the file may be missing).
declare -A UENV=()
load_unit_env() {
	local line file k v
	while IFS= read -r line; do
		for kv in $line; do UENV[${kv%%=*}]=${kv#*=}; done
	done < <(unit_lines Environment)
	while IFS= read -r file; do
		file=${file#-}
		[[ -r $file ]] || continue
		while IFS= read -r line || [[ -n $line ]]; do
			[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
			k=${line%%=*} v=${line#*=}
			[[ $k =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && UENV[$k]=$v
		done <"$file"
	done < <(unit_lines EnvironmentFile)
}

# unit_argv LINE: the words of an Exec line, prefixes (-@:+!) dropped, ${VAR} and $VAR replaced
# from the unit's environment, one per line.
unit_argv() {
	local line=$1 w name
	line=${line##[-@:+!]}
	line=${line##[-@:+!]}
	for w in $line; do
		while [[ $w =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} || $w =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; do
			name=${BASH_REMATCH[1]}
			w=${w/"${BASH_REMATCH[0]}"/${UENV[$name]:-}}
		done
		printf '%s\n' "$w"
	done
}

unit_env_args() {  # the unit's environment as KEY=VALUE words for env(1), one per line
	local k
	for k in "${!UENV[@]}"; do printf '%s\n' "$k=${UENV[$k]}"; done
}

install_blocker() {
	local p
	[[ ${SOFTMIG_PACKAGE_INSTALL:-yes} == no ]] && { echo "SOFTMIG_PACKAGE_INSTALL=no"; return; }
	[[ $(id -u) == 0 ]] || { echo "not root"; return; }
	command -v dpkg >/dev/null || { echo "no dpkg"; return; }
	dpkg-query -W -f='${Status}' softmig 2>/dev/null | grep -q installed && { echo "a softmig package is installed"; return; }
	for p in /opt/softmig /etc/softmig /usr/bin/softmig "$UNIT" /usr/lib/tmpfiles.d/softmig.conf \
		/etc/logrotate.d/softmig /run/softmig/softmig.sock /var/lib/softmig; do
		[[ -e $p || -L $p ]] && { echo "$p exists"; return; }
	done
	dpkg-query -W -f='${Status}' openjdk-17-jre-headless 2>/dev/null | grep -q "install ok installed" ||
		{ echo "openjdk-17-jre-headless is not installed as a Debian package"; return; }
}

COORD=""
INSTALLED=no
MADE=()  # directories the install or the service made, removed at the end
for d in /run/softmig /var/log/softmig /var/lib/softmig /dev/softmig; do
	[[ -e $d ]] || MADE+=("$d")
done
cleanup() {
	trap '' INT TERM
	if [[ -n $COORD ]] && kill -0 "$COORD" 2>/dev/null; then
		kill -KILL -- "-$COORD" 2>/dev/null
	fi
	if [[ $INSTALLED == yes ]] && dpkg-query -W -f='${Status}' softmig 2>/dev/null | grep -q installed; then
		dpkg --purge softmig >/dev/null 2>&1
	fi
	if [[ $INSTALLED == yes ]]; then
		local d
		for d in "${MADE[@]}"; do rm -rf -- "$d"; done
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

blocker=$(install_blocker)
if [[ -n $blocker ]]; then
	echo "NOTE: the .deb is not installed into this system ($blocker); its contents were checked above"
else
	INSTALLED=yes
	out=$(DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" 2>&1)
	rc=$?
	check "dpkg -i installs the .deb" test $rc -eq 0
	((rc == 0)) || echo "$out" | tail -n 20
	check_eq "dpkg knows the package" "install ok installed" "$(dpkg-query -W -f='${Status}' softmig 2>/dev/null)"
	check "softmig is on PATH and runs with the installed Java (softmig --help)" \
		bash -c 'PATH=/usr/sbin:/usr/bin:/sbin:/bin softmig --help >/dev/null'
	if command -v systemd-tmpfiles >/dev/null; then
		for d in /run/softmig/jobs /var/log/softmig/reports /var/log/softmig/users; do
			check_eq "the postinst made $d (tmpfiles.d)" "755 root" "$(stat -c '%a %U' "$d" 2>/dev/null)"
		done
		check_eq "the postinst made the state directory /var/lib/softmig, root's only" "700 root" \
			"$(stat -c '%a %U' /var/lib/softmig 2>/dev/null)"
	else
		echo "NOTE: no systemd-tmpfiles here: the postinst could not make the runtime directories"
		install -d -m 0755 /run/softmig /run/softmig/jobs
		install -d -m 0700 /var/lib/softmig  # the unit's StateDirectory=
	fi

	# ------------------------------------------------------------ the service, as its unit says
	check "the unit is installed" test -f "$UNIT"
	load_unit_env
	mapfile -t envargs < <(unit_env_args)
	check_eq "the unit reads /etc/softmig/softmig.env (SLICE_DEVICES)" 0 "${UENV[SLICE_DEVICES]:-}"
	ok=yes
	while IFS= read -r line; do
		mapfile -t argv < <(unit_argv "$line")
		env "${envargs[@]}" "${argv[@]}" >"$T/pre.log" 2>&1 || ok=no
	done < <(unit_lines ExecStartPre)
	check "ExecStartPre succeeds" test $ok == yes
	mapfile -t argv < <(unit_argv "$(unit_lines ExecStart | head -n 1)")
	check_eq "ExecStart runs the installed command" /opt/softmig/bin/softmig "${argv[0]:-}"
	echo "  ExecStart: ${argv[*]}"
	# Its own session, as under systemd: its pid is its process group, stopped as a whole.
	env "${envargs[@]}" setsid "${argv[@]}" >"$T/coordinator.log" 2>&1 </dev/null &
	COORD=$!
	up=no
	for _ in $(seq 1 240); do
		if [[ -S /run/softmig/softmig.sock ]] && softmig status >/dev/null 2>&1; then up=yes; break; fi
		kill -0 "$COORD" 2>/dev/null || break
		sleep 0.5
	done
	check_eq "the service starts and softmig status answers on /run/softmig/softmig.sock" yes $up
	[[ $up == yes ]] || tail -n 20 "$T/coordinator.log"
	check "softmig status --json names this node" bash -c \
		"softmig status --json 2>/dev/null | grep -q '\"node\" *: *\"$(hostname)\"'"
	stop_s=$(unit_lines TimeoutStopSec | head -n 1)
	stop_s=${stop_s%s}
	[[ $stop_s =~ ^[0-9]+$ ]] || stop_s=90
	kill -TERM -- "-$COORD" 2>/dev/null
	stopped=no
	for _ in $(seq 1 $((stop_s * 5))); do
		kill -0 "$COORD" 2>/dev/null || { stopped=yes; break; }
		sleep 0.2
	done
	check_eq "SIGTERM stops it within TimeoutStopSec (${stop_s} s)" yes $stopped
	wait "$COORD" 2>/dev/null
	rc=$?
	check "it stops cleanly (exit 0 or the SIGTERM it got, got $rc)" test $rc -eq 0 -o $rc -eq 143
	COORD=""

	# ------------------------------------------------------------ purged
	out=$(dpkg --purge softmig 2>&1)
	check "dpkg --purge removes it" test $? -eq 0
	left=""
	for p in /opt/softmig /etc/softmig /usr/bin/softmig "$UNIT" /usr/lib/tmpfiles.d/softmig.conf \
		/etc/logrotate.d/softmig /usr/share/man/man1/softmig.1.gz /usr/share/bash-completion/completions/softmig; do
		[[ -e $p || -L $p ]] && left+=" $p"
	done
	check_eq "nothing of the package is left after the purge" "" "$left"
fi

# ================================================================== the .rpm
if ! command -v rpm >/dev/null; then
	if [[ ${CI:-} == true ]]; then
		check "the rpm tool is installed (Debian package rpm, .ci/run installs it)" false
	else
		echo "NOTE: no rpm tool (apt-get install rpm): the .rpm is not checked"
	fi
else
	q() { rpm -qp "$@" "$rpmfile" 2>/dev/null; }
	modes=$(q --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]')
	rpm_mode() { awk -v p="/$1" '$3 == p { print $1 }' <<<"$modes"; }
	for f in "${PROGRAMS[@]}"; do
		check_eq ".rpm: /$f, 0755" -rwxr-xr-x "$(rpm_mode "$f")"
	done
	for f in "${DATA[@]}" "${CONFIG[@]}"; do
		check_eq ".rpm: /$f, 0644" -rw-r--r-- "$(rpm_mode "$f")"
	done
	check ".rpm: /usr/bin/softmig links to /opt/softmig/bin/softmig" \
		grep -qx /opt/softmig/bin/softmig <<<"$(q --qf '[%{FILENAMES} %{FILELINKTOS}\n]' | awk '$1 == "/usr/bin/softmig" { print $2 }')"
	for d in /opt/softmig /etc/softmig; do
		check ".rpm owns the directory $d" grep -qE "^d[rwx-]{9} root:root $d\$" <<<"$modes"
	done
	check_eq ".rpm: every file belongs to root" "" "$(awk '$2 != "root:root" { print $3 }' <<<"$modes")"
	check ".rpm requires the Java 17 runtime of Rocky/RHEL" grep -qx java-17-openjdk-headless <<<"$(q -R)"
	configs=$(q -c)
	for f in "${CONFIG[@]}"; do
		check ".rpm: /$f is a configuration file" grep -qx "/$f" <<<"$configs"
	done
	check ".rpm: its config files are kept on upgrade (noreplace)" bash -c \
		"[[ \$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' '$rpmfile' 2>/dev/null | awk '\$2 == \"/etc/softmig/softmig.conf\" { print \$1 }') == *n* ]]"
	q --qf '%{POSTIN}' >"$T/postin.sh"
	check ".rpm: its %post parses and makes the tmpfiles directories" bash -c \
		"sh -n '$T/postin.sh' && grep -q 'systemd-tmpfiles --create' '$T/postin.sh'"
	R=$T/rpmroot
	mkdir -p "$R"
	rpm --root "$R" --dbpath /var/lib/rpm --initdb 2>/dev/null
	rpm --root "$R" --dbpath /var/lib/rpm -i --nodeps --noscripts "$rpmfile" >/dev/null 2>&1
	check "the .rpm installs into a scratch root" test $? -eq 0
	check "the jar, the library and the unit are where the .rpm says" test -f "$R/opt/softmig/lib/softmig.jar" \
		-a -f "$R/opt/softmig/lib/libsoftmig.so" -a -f "$R$UNIT"
	rpm --root "$R" --dbpath /var/lib/rpm -e --nodeps --noscripts softmig >/dev/null 2>&1
	check "the .rpm erases again" test $? -eq 0
	check_eq "nothing of it is left after the erase" "" "$(ls -d "$R"/opt/softmig "$R"/etc/softmig "$R"/usr/bin/softmig 2>/dev/null)"
fi

checks_finish
