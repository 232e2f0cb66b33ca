#!/usr/bin/env bash
# JMH benchmark of memory round trips through a real coordinator over its Unix socket
# (bench/jmh, built only with the `bench` profile; never part of `mvn verify`).
#   scripts/bench-memory-jmh.sh                      # both: 64 sessions (ops/s), lone client (p50, p99)
#   scripts/bench-memory-jmh.sh sessions64           # one of them (a JMH regexp)
#   scripts/bench-memory-jmh.sh loneClient -prof jfr # with a flight recording per fork
# Any JMH option passes through (-f, -wi, -i, -r, -prof, -rf json -rff FILE, ...).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mvn -q -B -Pbench -pl bench/jmh -am -DskipTests compile dependency:build-classpath \
  -Dmdep.includeScope=runtime -Dmdep.outputFile=target/jmh.classpath >/dev/null

cp="bench/jmh/target/classes:$(cat bench/jmh/target/jmh.classpath)"
exec java -cp "$cp" org.openjdk.jmh.Main "${@:-MemoryRoundTrips}"
