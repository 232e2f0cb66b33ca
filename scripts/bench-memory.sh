#!/usr/bin/env bash
# Memory round-trip benchmark: a coordinator on simulated GPUs, N sessions over the real Unix
# socket, MemReserve/MemReply round trips measured with HdrHistogram.
#   scripts/bench-memory.sh [--sessions 64] [--seconds 15] [--warmup 5]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mvn -q -B -DskipTests -pl coordinator -am test-compile dependency:build-classpath \
  -Dmdep.includeScope=test -Dmdep.outputFile=target/bench.classpath >/dev/null

cp="coordinator/target/test-classes:coordinator/target/classes:$(cat coordinator/target/bench.classpath)"
exec java ${BENCH_JAVA_OPTS:--Xms512m -Xmx512m} -DSOFTMIG_LOG_LEVEL=WARN \
  -Dlogback.configurationFile=coordinator/src/main/resources/logback.xml \
  -cp "$cp" org.softmig.coordinator.bench.MemoryRoundTripBench "$@"
