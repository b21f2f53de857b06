#!/bin/sh
# A short fuzzing run of each libFuzzer target over its kept corpus, as part
# of the test suite. Builds the targets with clang in their own tree
# (BUILD/fuzz), then runs each for FUZZ_SECONDS (default 30) on a copy of
# tests/fuzz/corpus/<target>, so new inputs do not change the repository.
# A crash, a leak, an abort or undefined behaviour fails the test; the
# reproducer is left in the work directory printed below.
#   usage: run-short.sh SOURCE_DIR BUILD_DIR
set -eu
src=$1
build=$2/fuzz
seconds=${FUZZ_SECONDS:-30}
if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not installed (scripts/bootstrap installs it); skipping"
  exit 77
fi
cmake -S "$src" -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBULWARK_FUZZ=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target spec_fuzz profile_fuzz >/dev/null
work=$(mktemp -d /tmp/bulwark-fuzz.XXXXXX)
status=0
for target in spec profile; do
  mkdir -p "$work/$target"
  cp "$src/tests/fuzz/corpus/$target/"* "$work/$target/"
  echo "fuzz: ${target}_fuzz for ${seconds}s"
  if ! (cd "$work" && "$build/tests/fuzz/${target}_fuzz" -max_total_time="$seconds" -max_len=65536 \
        -timeout=10 -print_final_stats=1 "$work/$target" >"$work/$target.log" 2>&1); then
    echo "fuzz: ${target}_fuzz FAILED; log and reproducer in $work" >&2
    tail -n 40 "$work/$target.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$target.log" | sed "s/^/fuzz: ${target}: /"
  fi
done
[ "$status" = 0 ] && rm -rf "$work"
exit "$status"
