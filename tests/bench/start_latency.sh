#!/bin/sh
# Start latency of `run /bin/true` in a busybox bundle: bulwark-run against crun, runc and
# bubblewrap on the same bundle and machine, in one run, with and without Docker's default
# seccomp profile. A benchmark, not a test: it reports figures and PASS/MISS against targets.
#
# usage: tests/bench/start_latency.sh [-n N] [-w W] [-b BUILD_DIR] [-p PROFILE] [-r RUNTIMES] [-s]
#   -n N         recorded starts per runtime and variant (default 100; env BENCH_N)
#   -w W         unrecorded warm-up rounds first (default 2; env BENCH_WARMUP)
#   -b DIR       build directory holding tools/bulwark-run and tests/bench/bw-bench-{config,time}
#                (default: build/ of this checkout; env BULWARK_BUILD)
#   -p PROFILE   Docker's default seccomp profile, moby's profiles/seccomp/default.json
#                (default /work/shared/compat/docker-default-seccomp.json; env DOCKER_SECCOMP_PROFILE)
#   -r LIST      runtimes, of "bulwark crun runc bwrap" (the default; env BENCH_RUNTIMES).
#                Ones not installed are skipped; bulwark is always run.
#   -s           strict: exit 1 when bulwark-run misses a target (otherwise exit 0)
#   -h           this help
#   BUSYBOX=PATH a statically linked busybox (default: busybox on PATH, e.g. busybox-static)
#
# Needs root. Build first: cmake --build build -j2 (bulwark-run, bw-bench-config, bw-bench-time).
#
# How it measures. The bundle's rootfs holds a static busybox and a `true` link to it. Its
# config.json comes from `bulwark-run spec` (read-only root; pid, network, ipc, uts, mount and
# cgroup namespaces; three capabilities; no_new_privs; masked and read-only paths) with the
# process set to /bin/true and ociVersion to 1.0.2 (crun 1.8 refuses 1.2.0). Two variants
# differ in linux.seccomp only: none, or Docker's profile converted by moby's rules for the
# config's capabilities. crun, runc and bulwark-run run the same two config files; bubblewrap
# gets the same rootfs, namespaces and capabilities on its command line and, for the seccomp
# variant, the same filter compiled to BPF. Starts are interleaved: each round does one start
# of every runtime and variant, in an order rotated from round to round, so machine noise
# hits all alike. Each start is timed by bw-bench-time (fork, exec, wait4: wall time on
# CLOCK_MONOTONIC and ru_maxrss, the largest resident set among the runtime's process and the
# processes it reaped). The whole benchmark runs in one private mount namespace (unshare -m):
# container state and the bundle live on a tmpfs mounted there, and on a cgroup v1/v2 hybrid
# host an empty file is bound over /sys/fs/cgroup/unified/cgroup.controllers, which crun
# needs to run there at all; every runtime sees the same.
# bulwark-run caches compiled seccomp programs in /run/bulwark/seccomp-cache; when this
# profile's program is not cached yet, the first start with it is reported as the cold start,
# and the cache entry is removed again at the end.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
n=${BENCH_N:-100}
warmup=${BENCH_WARMUP:-2}
build=${BULWARK_BUILD:-$here/../../build}
profile=${DOCKER_SECCOMP_PROFILE:-/work/shared/compat/docker-default-seccomp.json}
runtimes=${BENCH_RUNTIMES:-bulwark crun runc bwrap}
strict=0
usage() { awk 'NR > 1 { if (!/^#/ || /^# Needs root/) exit; sub(/^# ?/, ""); print }' "$0"; }
while getopts n:w:b:p:r:sh opt; do
  case $opt in
    n) n=$OPTARG ;;
    w) warmup=$OPTARG ;;
    b) build=$OPTARG ;;
    p) profile=$OPTARG ;;
    r) runtimes=$OPTARG ;;
    s) strict=1 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

die() { echo "start_latency: $*" >&2; exit 1; }
case $n in '' | *[!0-9]* | 0) die "-n wants a positive number, not '$n'" ;; esac
case $warmup in '' | *[!0-9]*) die "-w wants a number, not '$warmup'" ;; esac
[ "$(id -u)" = 0 ] || die "needs root (namespaces, mounts, runtimes' state)"

# Everything below runs in a private mount namespace of its own.
if [ -z "${BULWARK_BENCH_IN_NS:-}" ]; then
  BULWARK_BENCH_IN_NS=1 BENCH_N=$n BENCH_WARMUP=$warmup BULWARK_BUILD=$build \
    DOCKER_SECCOMP_PROFILE=$profile BENCH_RUNTIMES=$runtimes BENCH_STRICT=$strict \
    exec unshare --mount --propagation private -- sh "$0"
fi
strict=${BENCH_STRICT:-0}

[ -d "$build" ] || die "no build directory '$build': build first (cmake --build build -j2)"
build=$(cd "$build" && pwd)
bulwark=$build/tools/bulwark-run
config_tool=$build/tests/bench/bw-bench-config
timer=$build/tests/bench/bw-bench-time
for f in "$bulwark" "$config_tool" "$timer"; do
  [ -x "$f" ] || die "$f is missing: build first (cmake --build build -j2)"
done
[ -r "$profile" ] || die "no Docker seccomp profile at '$profile' (use -p)"
busybox=${BUSYBOX:-$(command -v busybox || true)}
if [ -z "$busybox" ] || [ ! -x "$busybox" ]; then die "no busybox (install busybox-static or set BUSYBOX)"; fi
if ldd "$busybox" >/dev/null 2>&1; then die "$busybox is dynamically linked: a static one is needed"; fi

# Runtimes: bulwark first, then the others that are installed, in the order given.
list="bulwark"
for rt in $runtimes; do
  case $rt in
    bulwark) ;;
    crun | runc | bwrap)
      if command -v "$rt" >/dev/null 2>&1; then list="$list $rt"
      else echo "start_latency: $rt is not installed, skipping it" >&2; fi ;;
    *) die "unknown runtime '$rt' (bulwark, crun, runc, bwrap)" ;;
  esac
done
runtimes=$list

# --- Scratch space, and cleanup of everything this script makes -----------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-bench.XXXXXX")
cache_dir=/run/bulwark/seccomp-cache
cache_key=""
made_run_bulwark=0; [ -e /run/bulwark ] || made_run_bulwark=1
made_cache_dir=0; [ -e "$cache_dir" ] || made_cache_dir=1
drop_cache_entry=0
bound_controllers=0

cleanup() {
  status=$?
  trap - EXIT INT TERM HUP
  # Containers left by an interrupted run: only those in this benchmark's own state roots.
  for rt in bulwark crun runc; do
    root=$work/state/$rt
    [ -d "$root" ] || continue
    for c in "$root"/*; do
      [ -d "$c" ] || continue
      case $rt in
        bulwark) "$bulwark" --root "$root" delete --force "${c##*/}" ;;
        *) "$rt" --root "$root" delete --force "${c##*/}" ;;
      esac >/dev/null 2>&1 || true
    done
  done
  if [ "$drop_cache_entry" = 1 ]; then rm -f "$cache_dir/$cache_key.bpf"; fi
  if [ "$made_cache_dir" = 1 ]; then rmdir "$cache_dir" 2>/dev/null || true; fi
  if [ "$made_run_bulwark" = 1 ]; then rmdir /run/bulwark 2>/dev/null || true; fi
  # The mounts vanish with this mount namespace; the directory under them does not.
  if [ "$bound_controllers" = 1 ]; then umount /sys/fs/cgroup/unified/cgroup.controllers || true; fi
  umount "$work" 2>/dev/null || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

case $work in *[[:space:]]*) die "the scratch directory '$work' has blanks: set TMPDIR" ;; esac
mount -t tmpfs -o mode=0700 bulwark-bench "$work"
mkdir -p "$work/results" "$work/state/bulwark" "$work/state/crun" "$work/state/runc"
: >"$work/log"
if [ -e /sys/fs/cgroup/unified/cgroup.controllers ]; then
  : >"$work/empty"
  mount --bind "$work/empty" /sys/fs/cgroup/unified/cgroup.controllers
  bound_controllers=1
fi

# --- The bundle: one rootfs, two config.json variants ----------------------------------------
rootfs=$work/rootfs
mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys" "$rootfs/tmp" \
  "$work/base" "$work/plain" "$work/seccomp"
cp "$busybox" "$rootfs/bin/busybox"
ln -s busybox "$rootfs/bin/true"
"$bulwark" spec --bundle "$work/base"
sed 's/"ociVersion": *"[^"]*"/"ociVersion": "1.0.2"/' "$work/base/config.json" >"$work/base/config.1.0.json"
"$config_tool" configs --base "$work/base/config.1.0.json" --profile "$profile" --rootfs "$rootfs" \
  --plain "$work/plain/config.json" --seccomp "$work/seccomp/config.json" --args /bin/true
bpf=$work/docker.bpf
cache_key=$("$config_tool" bpf "$work/seccomp/config.json" "$bpf")
cold_pending=0
if [ ! -e "$cache_dir/$cache_key.bpf" ]; then cold_pending=1; drop_cache_entry=1; fi

# bubblewrap: the config's namespaces (--unshare-all also adds a user namespace), read-only
# root, /proc, /dev (with pts, shm), /dev/mqueue, /tmp, and the config's capabilities only.
bwrap_args="--unshare-all --die-with-parent --ro-bind $rootfs / --proc /proc --dev /dev"
bwrap_args="$bwrap_args --mqueue /dev/mqueue --tmpfs /tmp --hostname bulwark --cap-drop ALL"
for cap in $("$config_tool" caps "$work/plain/config.json"); do
  bwrap_args="$bwrap_args --cap-add $cap"
done

# --- Starts ----------------------------------------------------------------------------------
# start RUNTIME VARIANT ID RESULTS: one timed start; the runtimes' output goes to the log.
start() {
  rt=$1 variant=$2 id=$3 out=$4
  case $rt in
    bulwark) set -- "$bulwark" --root "$work/state/bulwark" run --bundle "$work/$variant" "$id" ;;
    crun | runc) set -- "$rt" --root "$work/state/$rt" run --bundle "$work/$variant" "$id" ;;
    bwrap)
      # shellcheck disable=SC2086 # bwrap_args is a list of words without blanks
      if [ "$variant" = seccomp ]; then set -- bwrap $bwrap_args --seccomp 9 /bin/true
      else set -- bwrap $bwrap_args /bin/true; fi ;;
  esac
  if [ "$rt" = bwrap ] && [ "$variant" = seccomp ]; then
    "$timer" "$out" "$@" </dev/null >>"$work/log" 2>&1 9<"$bpf" && return 0
  else
    "$timer" "$out" "$@" </dev/null >>"$work/log" 2>&1 && return 0
  fi
  tail -n 20 "$work/log" >&2
  die "$rt ($variant) failed to start container $id"
}

combos=""
for rt in $runtimes; do combos="$combos $rt:plain $rt:seccomp"; done

# round KIND I: one start of every runtime and variant, the list rotated by I; KIND is
# "warm" (not recorded) or "run".
round() {
  kind=$1 index=$2
  k=$((index % ncombos))
  # shellcheck disable=SC2086
  set -- $combos
  while [ "$k" -gt 0 ]; do first=$1; shift; set -- "$@" "$first"; k=$((k - 1)); done
  for c in "$@"; do
    r=${c%%:*} v=${c#*:}
    if [ "$cold_pending" = 1 ] && [ "$c" = bulwark:seccomp ]; then
      out=$work/results/cold
      cold_pending=0
    elif [ "$kind" = warm ]; then out=$work/results/warmup
    else out=$work/results/$r.$v
    fi
    start "$r" "$v" "$r-$v-$kind$index" "$out"
  done
}

ncombos=$(echo "$combos" | wc -w)
# Rotation 1 puts bulwark-run's seccomp variant first: the cold start, when there is one, is
# the first start of the benchmark. At least one warm-up round runs when it is pending.
i=0
while [ "$i" -lt "$warmup" ] || { [ "$cold_pending" = 1 ] && [ "$i" -lt 1 ]; }; do
  i=$((i + 1))
  round warm "$i"
done
i=0
while [ "$i" -lt "$n" ]; do
  i=$((i + 1))
  round run "$i"
done

# --- Report ----------------------------------------------------------------------------------
# stats FILE: "median_ns p90_ns median_rss_kb" (p90 by nearest rank).
stats() {
  t=$(cut -d' ' -f1 "$1" | sort -n | awk '{ v[NR] = $1 } END {
      m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      r = int(0.9 * NR + 0.999999); if (r < 1) r = 1
      printf "%.0f %.0f", m, v[r] }')
  r=$(cut -d' ' -f2 "$1" | sort -n | awk '{ v[NR] = $1 } END {
      printf "%.0f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
  echo "$t $r"
}
: >"$work/stats"
for rt in $runtimes; do
  for variant in plain seccomp; do
    echo "$rt $variant $(stats "$work/results/$rt.$variant")" >>"$work/stats"
  done
done

version() {
  case $1 in
    bulwark) echo "bulwark-run ($bulwark)" ;;
    crun) crun --version | head -n 1 ;;
    runc) runc --version | head -n 1 ;;
    bwrap) bwrap --version ;;
  esac
}
echo "Start latency of 'run /bin/true' (busybox bundle): $n starts per runtime and variant," \
  "interleaved, after $warmup warm-up round(s)"
echo "Host: $(uname -sr), $(nproc) CPU(s); $(date -u '+%Y-%m-%d %H:%M UTC')"
for rt in $runtimes; do echo "  $(version "$rt")"; done
echo "Variants: plain = no seccomp; docker = Docker's default profile ($(basename "$profile")," \
  "converted for the config's capabilities)"
echo

if [ -s "$work/results/cold" ]; then cold_ns=$(cut -d' ' -f1 "$work/results/cold"); else cold_ns=""; fi

awk -v strict="$strict" -v cold_ns="$cold_ns" '
  function ms(ns) { return sprintf("%.2f", ns / 1e6) }
  function name(rt) { return rt == "bulwark" ? "bulwark-run" : rt == "bwrap" ? "bubblewrap" : rt }
  function vname(v) { return v == "plain" ? "plain" : "docker" }
  function verdict(ok) { if (!ok) miss++; return ok ? "PASS" : "MISS" }
  {
    rt[NR] = $1; var[NR] = $2; med[$1, $2] = $3; p90[$1, $2] = $4; rss[$1, $2] = $5
    if (!seen[$1]++) order[++nrt] = $1
  }
  END {
    have_crun = ("crun", "plain") in med
    printf "%-12s %-8s %10s %10s %10s %14s\n", "runtime", "variant", "median ms", "p90 ms", "x crun", "peak RSS KB"
    for (i = 1; i <= NR; i++) {
      r = rt[i]; v = var[i]
      ratio = have_crun ? sprintf("%.2f", med[r, v] / med["crun", v]) : "-"
      printf "%-12s %-8s %10s %10s %10s %14d\n", name(r), vname(v), ms(med[r, v]), ms(p90[r, v]), ratio, rss[r, v]
    }
    print ""
    print "Seccomp cost (median docker - median plain):"
    for (i = 1; i <= nrt; i++) {
      r = order[i]
      printf "  %-12s %+.2f ms\n", name(r), (med[r, "seccomp"] - med[r, "plain"]) / 1e6
    }
    if (cold_ns != "")
      printf "  bulwark-run, first start with an empty seccomp cache (compiles and stores): %s ms\n", ms(cold_ns)
    print ""
    print "Targets for bulwark-run:"
    for (k = 1; k <= 2; k++) {
      v = k == 1 ? "plain" : "seccomp"
      if (have_crun) {
        ok = med["bulwark", v] <= 0.5 * med["crun", v]
        printf "  median <= 0.5 x crun (%s): %s ms vs %s ms (%.2fx)  %s\n", vname(v),
          ms(med["bulwark", v]), ms(0.5 * med["crun", v]), med["bulwark", v] / med["crun", v], verdict(ok)
      } else printf "  median <= 0.5 x crun (%s): n/a (crun not run)\n", vname(v)
    }
    cost = med["bulwark", "seccomp"] - med["bulwark", "plain"]
    printf "  seccomp adds <= 1 ms: %+.2f ms  %s\n", cost / 1e6, verdict(cost <= 1e6)
    for (k = 1; k <= 2; k++) {
      v = k == 1 ? "plain" : "seccomp"
      if (have_crun)
        printf "  peak RSS < crun (%s): %d KB vs %d KB  %s\n", vname(v), rss["bulwark", v], rss["crun", v],
          verdict(rss["bulwark", v] < rss["crun", v])
      else printf "  peak RSS < crun (%s): n/a (crun not run)\n", vname(v)
    }
    if (miss) printf "%d target(s) missed\n", miss
    exit strict && miss ? 1 : 0
  }' "$work/stats"
