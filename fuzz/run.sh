#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets with clang, replays the seed corpora, then fuzzes each target for a
# bounded time. Usage: fuzz/run.sh BUILD_DIR [PROFILE_SECONDS [ETC_MODULES_SECONDS]]
# (defaults 60 and 10). New inputs go to BUILD_DIR/corpus-*, never into the repository; a crash
# leaves its input in BUILD_DIR/artifacts/ and fails the run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath -m "${1:?usage: fuzz/run.sh BUILD_DIR [SECONDS [SECONDS]]}")
profile_seconds=${2:-60}
etc_modules_seconds=${3:-10}

cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

mkdir -p "$build/artifacts"
# Small, bounded: a slow input (10 s) or 512 MiB of memory counts as a failure like a crash.
common=(-rss_limit_mb=512 -timeout=10 -print_final_stats=1 -artifact_prefix="$build/artifacts/")
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

fuzz() {
  local target=$1 seeds=$2 seconds=$3
  shift 3
  # Every seed once, as a regression test of its own.
  "$build/$target" "${common[@]}" "$@" "$seeds"/* 2>"$build/$target.replay.log" || {
    cat "$build/$target.replay.log" >&2
    echo "$target: a seed input failed" >&2
    return 1
  }
  local work="$build/corpus-$target"
  mkdir -p "$work"
  "$build/$target" "${common[@]}" "$@" -max_total_time="$seconds" "$work" "$seeds" \
    2>"$build/$target.log" || {
    tail -n 60 "$build/$target.log" >&2
    echo "$target: fuzzing found a failure; input in $build/artifacts/" >&2
    return 1
  }
  local runs
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/$target.log")
  echo "$target: $(ls "$seeds" | wc -l) seeds replayed; $runs executions in $seconds s, no failure"
}

fuzz fuzz_profile "$here/corpus/profile" "$profile_seconds" -max_len=16384 -dict="$here/profile.dict"
fuzz fuzz_etc_modules "$here/corpus/etc-modules" "$etc_modules_seconds" -max_len=4096
