#!/usr/bin/env bash
# Flood benchmark (issue 10): invalid Hellos from one user against a real coordinator process on
# simulated GPUs, run with bin/softmig's JVM options; status latency while flooding, the
# coordinator's peak VmRSS, the jobs left afterwards. As root, the flood comes from the
# unprivileged user softmig-attacker (created if missing).
#   scripts/bench-flood.sh [--hellos 10000] [--concurrency 32]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mvn -q -B -DskipTests -pl coordinator -am test-compile dependency:build-classpath \
  -Dmdep.includeScope=test -Dmdep.outputFile=target/bench.classpath >/dev/null

cp="coordinator/target/test-classes:coordinator/target/classes:$(cat coordinator/target/bench.classpath)"
exec java ${BENCH_JAVA_OPTS:--Xmx512m} -DSOFTMIG_LOG_LEVEL=WARN \
  -Dlogback.configurationFile=coordinator/src/main/resources/logback.xml \
  -cp "$cp" org.softmig.coordinator.it.HelloFloodBench "$@"
