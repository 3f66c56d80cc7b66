#!/usr/bin/env bash
# Benchmarks one Hornbeam node against webdis (Redis over HTTP) and a no-op Kestrel app, with redis-benchmark as the
# floor, and files the figures. The run itself is bench/Hornbeam.Bench; docs/benchmarks.md ("Method") lists its
# settings (BENCH_* environment variables) and what each row means. Everything runs on loopback and stops with it.
#
#   bash bench/run.sh
#   BENCH_SCENARIOS="rpc pubsub" bash bench/run.sh
set -euo pipefail
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
exec dotnet run -c Release --project "$(dirname "${BASH_SOURCE[0]}")/Hornbeam.Bench" -- "$@"
