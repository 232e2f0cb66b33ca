#!/bin/bash
# install.sh - install softmig on a node: library, coordinator, SLURM scripts, systemd unit,
# logrotate, directories. Idempotent: run it again to upgrade; files in use are replaced by
# rename, so running jobs keep the library they loaded and the running coordinator its jar.
# Site files in the config directory are never overwritten (a differing new version is put
# beside them as FILE.new).
#
#   deploy/install.sh [--root DESTDIR] [--prefix /opt/softmig] [--sysconfdir /etc/softmig]
#                     [--lib native-shim/build/libsoftmig.so] [--jar coordinator/target/softmig.jar]
#                     [--unitdir /etc/systemd/system] [--link-dir /usr/local/bin] [--no-dirs]
#
#   --root DIR     install into DIR as if it were / (packaging, tests); owners are still set
#                  when running as root
#   --prefix DIR   programs and scripts (bin/, lib/, slurm/)
#   --sysconfdir   site configuration (slices.conf, slurm-scripts.conf, softmig.conf, softmig.env)
#   --lib FILE     libsoftmig.so to install (default: the build output of this checkout)
#   --jar FILE     the coordinator's jar (default: the build output of this checkout)
#   --unitdir DIR  where the systemd unit goes
#   --link-dir DIR where a `softmig` symlink to PREFIX/bin/softmig goes ("" for none)
#   --rundir DIR   runtime directory for the socket and per-job files (default /run/softmig)
#   --logdir DIR   log directory (default /var/log/softmig)
#   --statedir DIR the coordinator's placements across restarts (default /var/lib/softmig; the
#                  coordinator reads softmig.state-dir from softmig.conf)
#   --no-dirs      do not create the runtime, state and log directories (containers, images)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)

root=""
prefix=/opt/softmig
sysconfdir=/etc/softmig
unitdir=/etc/systemd/system
link_dir=/usr/local/bin
rundir=/run/softmig
logdir=/var/log/softmig
statedir=/var/lib/softmig
lib=""
jar=""
make_dirs=yes

die() { echo "install.sh: $*" >&2; exit 1; }
need_arg() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"; }

while [[ $# -gt 0 ]]; do
	case $1 in
	--root) need_arg "$@"; root=${2%/}; shift 2 ;;
	--prefix) need_arg "$@"; prefix=${2%/}; shift 2 ;;
	--sysconfdir) need_arg "$@"; sysconfdir=${2%/}; shift 2 ;;
	--unitdir) need_arg "$@"; unitdir=${2%/}; shift 2 ;;
	--link-dir) [[ $# -ge 2 ]] || die "--link-dir needs a value"; link_dir=${2%/}; shift 2 ;;
	--rundir) need_arg "$@"; rundir=${2%/}; shift 2 ;;
	--logdir) need_arg "$@"; logdir=${2%/}; shift 2 ;;
	--statedir) need_arg "$@"; statedir=${2%/}; shift 2 ;;
	--lib) need_arg "$@"; lib=$2; shift 2 ;;
	--jar) need_arg "$@"; jar=$2; shift 2 ;;
	--no-dirs) make_dirs=no; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
done
for d in "$prefix" "$sysconfdir" "$unitdir" "$rundir" "$logdir" "$statedir"; do
	[[ $d == /* ]] || die "paths must be absolute, got '$d'"
done

if [[ -z $lib ]]; then
	lib=$top/native-shim/build/libsoftmig.so
fi
if [[ -z $jar ]]; then
	jar=$top/coordinator/target/softmig.jar
fi
[[ -f $lib ]] || die "no library at '$lib': build it first (mvn -o package) or pass --lib FILE"
[[ -f $jar ]] || die "no coordinator jar at '$jar': build it first (mvn -o package) or pass --jar FILE"

as_root=no
[[ $(id -u) == 0 ]] && as_root=yes

# put SRC DEST MODE: replace DEST by SRC unless identical; by rename, never in place.
put() {
	local src=$1 dest=$root$2 mode=$3 tmp
	install -d -m 0755 "${dest%/*}"
	if [[ -f $dest && ! -L $dest ]] && cmp -s "$src" "$dest"; then
		chmod "$mode" "$dest"
		return 0
	fi
	tmp=$(mktemp "${dest%/*}/.${dest##*/}.XXXXXX")
	cat "$src" >"$tmp"
	chmod "$mode" "$tmp"
	[[ $as_root == yes ]] && chown 0:0 "$tmp"
	mv -fT "$tmp" "$dest"
	echo "installed $2"
}

# put_text DEST MODE < TEXT
put_text() {
	local t
	t=$(mktemp)
	cat >"$t"
	put "$t" "$1" "$2"
	rm -f "$t"
}

# put_config SRC DEST: a site file; installed when missing, else FILE.new beside a changed one.
put_config() {
	local src=$1 dest=$root$2
	if [[ ! -e $dest ]]; then
		put "$src" "$2" 0644
	elif ! cmp -s "$src" "$dest"; then
		put "$src" "$2.new" 0644
		echo "  kept your $2; the shipped version is $2.new"
	fi
}

# with_paths FILE: FILE with the default paths replaced by the ones chosen here (through
# placeholders, so a chosen path that contains a default one is not replaced twice).
with_paths() {
	sed -e "s#/var/run/softmig#@RUNDIR@#g" -e "s#/run/softmig#@RUNDIR@#g" \
		-e "s#/opt/softmig#@PREFIX@#g" -e "s#/etc/softmig#@SYSCONFDIR@#g" \
		-e "s#/var/log/softmig#@LOGDIR@#g" -e "s#/var/lib/softmig#@STATEDIR@#g" \
		-e "s#@RUNDIR@#$rundir#g" -e "s#@PREFIX@#$prefix#g" \
		-e "s#@SYSCONFDIR@#$sysconfdir#g" -e "s#@LOGDIR@#$logdir#g" -e "s#@STATEDIR@#$statedir#g" "$1"
}

# lib_with_paths FILE: the scripts' defaults; SM_DEFAULT_SOCKET stays the library's built-in
# default, so the TaskProlog exports SOFTMIG_SOCKET when the socket moved.
lib_with_paths() {
	sed -e "s#^SOFTMIG_SYSCONFDIR=.*#SOFTMIG_SYSCONFDIR=$sysconfdir#" \
		-e "s#^SM_SOFTMIG=.*#SM_SOFTMIG=$prefix/bin/softmig#" \
		-e "s#^SM_SOCKET=.*#SM_SOCKET=$rundir/softmig.sock#" \
		-e "s#^SM_CONFIG_DIR=.*#SM_CONFIG_DIR=$rundir#" \
		-e "s#^SM_STATE_DIR=.*#SM_STATE_DIR=$rundir/jobs#" \
		-e "s#^SM_LIBRARY=.*#SM_LIBRARY=$prefix/lib/libsoftmig.so#" \
		-e "s#^SM_REPORT_DIR=.*#SM_REPORT_DIR=$logdir/reports#" \
		-e "s#^SM_LOG_FILE=.*#SM_LOG_FILE=$logdir/slurm-scripts.log#" \
		-e "s#^SM_USER_LOG_DIR=.*#SM_USER_LOG_DIR=$logdir/users#" \
		-e "s#^SM_MPS_BASE_DIR=.*#SM_MPS_BASE_DIR=$rundir/mps#" "$1"
}

tmpd=$(mktemp -d)
trap 'rm -rf "$tmpd"' EXIT

# ------------------------------------------------------------------ programs
put "$lib" "$prefix/lib/libsoftmig.so" 0755
put "$jar" "$prefix/lib/softmig.jar" 0644
put_text "$prefix/bin/softmig" 0755 <<EOF
#!/bin/sh
# softmig - the softmig coordinator and its command line (installed by deploy/install.sh).
# JAVA selects the java binary; SOFTMIG_JAVA_OPTS adds JVM options.
JAVA=\${JAVA:-java}
if [ "\${1:-}" = coordinator ]; then
	exec "\$JAVA" \${SOFTMIG_JAVA_OPTS:-} -jar "$prefix/lib/softmig.jar" "\$@"
fi
# One-shot commands: start fast.
exec "\$JAVA" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto \${SOFTMIG_JAVA_OPTS:-} \\
	-jar "$prefix/lib/softmig.jar" "\$@"
EOF
# The site's cluster CA and node certificates (docs/CLUSTER.md), TLS_DIR defaulting to here.
with_paths "$here/softmig-cluster-certs.sh" >"$tmpd/softmig-cluster-certs"
put "$tmpd/softmig-cluster-certs" "$prefix/bin/softmig-cluster-certs" 0755
if [[ -n $link_dir ]]; then
	install -d -m 0755 "$root$link_dir"
	ln -sfn "$prefix/bin/softmig" "$root$link_dir/softmig"
fi

# ------------------------------------------------------------------ SLURM scripts
for f in prolog.sh task_prolog.sh epilog.sh softmig-slice-devices.sh; do
	put "$here/slurm/$f" "$prefix/slurm/$f" 0755
done
lib_with_paths "$here/slurm/softmig-slurm.sh" >"$tmpd/softmig-slurm.sh"
put "$tmpd/softmig-slurm.sh" "$prefix/slurm/softmig-slurm.sh" 0644
with_paths "$here/slurm/job_submit.lua" >"$tmpd/job_submit.lua"
put "$tmpd/job_submit.lua" "$prefix/slurm/job_submit.lua" 0644
for f in gres.conf.example slurm.conf.fragment; do
	with_paths "$here/slurm/$f" >"$tmpd/$f"
	put "$tmpd/$f" "$prefix/slurm/$f" 0644
done

if [[ -f $top/docs/DEPLOYMENT.md ]]; then
	put "$top/docs/DEPLOYMENT.md" "$prefix/share/doc/softmig/DEPLOYMENT.md" 0644
fi

# ------------------------------------------------------------------ site configuration
install -d -m 0755 "$root$sysconfdir"
for f in slices.conf slurm-scripts.conf softmig.conf softmig.env; do
	with_paths "$here/etc/$f" >"$tmpd/$f"
	put_config "$tmpd/$f" "$sysconfdir/$f"
done

# ------------------------------------------------------------------ service, logs, runtime dirs
with_paths "$here/systemd/softmig-coordinator.service" >"$tmpd/unit"
put "$tmpd/unit" "$unitdir/softmig-coordinator.service" 0644
with_paths "$here/systemd/softmig.tmpfiles" >"$tmpd/tmpfiles"
put "$tmpd/tmpfiles" "/usr/lib/tmpfiles.d/softmig.conf" 0644
with_paths "$here/logrotate/softmig" >"$tmpd/logrotate"
put "$tmpd/logrotate" "/etc/logrotate.d/softmig" 0644

if [[ $make_dirs == yes ]]; then
	for d in "$rundir" "$rundir/jobs" "$logdir" "$logdir/reports" "$logdir/users"; do
		install -d -m 0755 "$root$d"
		[[ $as_root == yes ]] && chown 0:0 "$root$d"
		chmod 0755 "$root$d"
	done
	# the coordinator's placements across restarts (softmig.state-dir): root only
	install -d -m 0700 "$root$statedir"
	[[ $as_root == yes ]] && chown 0:0 "$root$statedir"
	chmod 0700 "$root$statedir"
fi

if [[ -z $root && $as_root == yes ]] && command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
	systemctl daemon-reload
	echo "systemd reloaded; start with: systemctl enable --now softmig-coordinator"
fi
echo "softmig installed under ${root:-/}${root:+ (as /)}: $prefix, $sysconfdir"
