#!/usr/bin/env bash
# build.sh: the softmig packages, a .deb (Debian 12, Ubuntu 24.04) and an .rpm (Rocky/RHEL 9),
# into deploy/packaging/target/. The Maven build makes them (the deploy module's package phase:
# man pages and completion by picocli, the .deb by jdeb, the .rpm by the rpm-builder plugin, both
# in Java); this builds what they need and lists them.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
mvn -q -B -DskipTests package "$@"
ls -1 "$root"/deploy/packaging/target/*.deb "$root"/deploy/packaging/target/*.rpm
