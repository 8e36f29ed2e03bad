#!/usr/bin/env bash
# fuzz/run.sh SECONDS: runs each fuzz target for SECONDS, from a corpus seeded with the
# real dbt artifacts and Airflow answers in tests/fixtures and the example configs in config/. Works on the
# stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags). A crash leaves
# its input in fuzz/artifacts/TARGET/ and fails the script: turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:?usage: fuzz/run.sh SECONDS}
export RUSTC_BOOTSTRAP=1
targets=(manifest run_results sources config airflow_dags airflow_runs airflow_task_instances)

seed() {
  local target=$1
  shift
  mkdir -p "corpus/$target"
  for file in "$@"; do
    cp "$file" "corpus/$target/seed_$(echo "${file#../}" | tr '/' '_')"
  done
}
seed manifest ../tests/fixtures/dbt/*/manifest.json
seed run_results ../tests/fixtures/dbt/*/run_results*.json
seed sources ../tests/fixtures/dbt/*/sources.json
seed config ../config/*.toml
seed airflow_dags ../tests/fixtures/airflow*/dags_list*.json
seed airflow_runs ../tests/fixtures/airflow*/dagruns*.json
seed airflow_task_instances ../tests/fixtures/airflow*/taskinstances*.json

# No sanitizer: the parsers are safe Rust, so the findings are panics, stack overflows,
# runaway memory and hangs, which libFuzzer catches without one (and twice as fast).
cargo fuzz build --sanitizer none
mkdir -p logs
total=0
for target in "${targets[@]}"; do
  cargo fuzz run --sanitizer none "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 >"logs/$target.log" 2>&1 || {
    tail -40 "logs/$target.log"
    echo "fuzz: $target crashed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  }
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$target.log")
  echo "fuzz: $target: ${runs:-0} executions in ${seconds}s, no crash"
  total=$((total + ${runs:-0}))
done
echo "fuzz: $total executions in all"
