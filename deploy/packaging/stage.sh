#!/usr/bin/env bash
# stage.sh STAGE JAR LIB MANDIR COMPLETION: the file tree of the softmig packages, as it will lie
# on a node: deploy/install.sh into STAGE (programs in /opt/softmig, site files in /etc/softmig,
# the unit in /usr/lib/systemd/system, `softmig` in /usr/bin), the man pages (MANDIR/*.1,
# generated from the command line by picocli) and the bash completion (COMPLETION).
set -euo pipefail

[[ $# -eq 5 ]] || { echo "usage: stage.sh STAGE JAR LIB MANDIR COMPLETION" >&2; exit 2; }
stage=$1 jar=$2 lib=$3 mandir=$4 completion=$5
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

rm -rf "$stage"
mkdir -p "$stage"
bash "$here/../install.sh" --root "$stage" --jar "$jar" --lib "$lib" --no-dirs \
	--unitdir /usr/lib/systemd/system --link-dir /usr/bin >/dev/null

install -d -m 0755 "$stage/usr/share/man/man1"
found=0
for page in "$mandir"/*.1; do
	[[ -f $page ]] || continue
	gzip -9 -n -c "$page" >"$stage/usr/share/man/man1/$(basename "$page").gz"
	found=1
done
((found)) || { echo "stage.sh: no man pages in $mandir" >&2; exit 1; }
install -D -m 0644 "$completion" "$stage/usr/share/bash-completion/completions/softmig"
