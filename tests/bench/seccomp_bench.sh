#!/bin/sh
# Seccomp benchmarks, with Docker's default profile: what one system call costs under Bulwark's
# compiled filter against libseccomp's default (linear) output and its binary tree, what compiling
# the profile costs with each (and a warm cache hit at launch), and what `bulwark-seccomp record`
# and `check` add to a syscall-heavy command. A benchmark, not a test: it reports figures and
# ratios from one run, and PASS/MISS against targets.
#
# usage: tests/bench/seccomp_bench.sh [-r N] [-c N] [-m N] [-n N] [-t N] [-o PARTS]
#                                     [-b BUILD_DIR] [-p PROFILE] [-s]
#   -r N         cost: rounds, each a new process loading the programs afresh (default 15;
#                env BENCH_ROUNDS)
#   -c N         cost: calls per burst; every round times 7 bursts per row and engine
#                (default 20000; env BENCH_CALLS)
#   -m N         compile: runs per engine (default 50, warm cache hits 10x as many;
#                env BENCH_COMPILE_RUNS)
#   -n N         record/check: system calls the workloads make (default 200000;
#                env BENCH_RECORD_CALLS)
#   -t N         record/check: timed runs per workload and mode (default 5; env BENCH_RECORD_RUNS)
#   -o PARTS     which parts, of "cost compile record" (default: all three; env BENCH_PARTS)
#   -b DIR       build directory holding tests/bench/bw-bench-seccomp and
#                tools/seccomp/bulwark-seccomp (default: build/ of this checkout; env BULWARK_BUILD)
#   -p PROFILE   Docker's default seccomp profile, moby's profiles/seccomp/default.json
#                (default /work/shared/compat/docker-default-seccomp.json; env DOCKER_SECCOMP_PROFILE)
#   -s           strict: exit 1 when a target is missed (otherwise exit 0)
#   -h           this help
#   About 40 seconds with the defaults on 2 CPUs; the time scales with -r, -n and -t.
#
# Needs root. Build first: cmake --build build -j2 (bw-bench-seccomp, bulwark-seccomp).
#
# The profile. Docker's profile is resolved as moby does for a container with Docker's default
# capabilities on this machine (from_docker_profile): the native architecture plus its compat
# architectures (x86_64 + x86 + x32 here), with the rules whose `includes` hold. Each engine
# compiles that same section (seccomp::compile).
#
# cost (bw-bench-seccomp cost). Each round is one process with four threads: no filter, and
# one per engine, each under its own filter (loaded without TSYNC, a filter stays on its
# thread), all with no_new_privs. The threads take turns: burst by burst, each times 20000 raw
# syscall(2) calls of one row, so every engine sees the same machine state within milliseconds.
# Rows:
#   allowed (cached)  getppid(): allowed by number. Since Linux 5.11 the kernel emulates each
#                     filter at load time and keeps a bitmap of the syscalls it always allows;
#                     those skip BPF entirely, so this row costs the same under every engine (its
#                     difference between engines is the run's noise floor). What it does show is
#                     the price of any filter: the syscall takes the slow entry path.
#   allowed (BPF)     getppid() after a 2-instruction filter that reads args[0] is stacked on top:
#                     the kernel consults only the newest filter's bitmap, which is now empty, so
#                     every filter runs, as before 5.11 (or for x32 calls, which are past the
#                     bitmap). The no-filter thread runs that 2-instruction filter alone.
#   arg personality   personality(0xffffffff): allowed by one of Docker's five argument rules
#                     (0, 8, 0x20000, 0x20008, 0xffffffff); a query that changes nothing.
#   arg socket        socket(AF_UNIX, 0xff, 0): allowed by Docker's rules on the domain (all but
#                     AF_VSOCK and 38); the kernel then refuses the bad type at once (EINVAL).
#   denied            mount(0, 0, 0, 0, 0): Docker's default action, EPERM, from the filter
#                     (mount needs CAP_SYS_ADMIN, which Docker's default set lacks).
# Reported: the median ns/call per row and engine, the cost over no filter, ratios bulwark/tree
# and bulwark/linear, and bulwark - tree paired burst by burst, as a 95% interval over the rounds
# (the rounds are the independent samples: a fresh load moves the figures more than bursts
# vary). Next to it, exact and noise-free: the BPF instructions each program executes for the
# same calls (seccomp::run_filter), and how many syscall numbers each program's kernel bitmap
# covers. Targets: bulwark no worse than the tree on every row (not shown slower by more than
# 3%), and better on the argument-checked and denied rows (the whole interval below zero).
#
# compile (bw-bench-seccomp compile). seccomp::compile() per engine, interleaved, median of -m
# runs: with no cache (the engine alone); into an empty cache directory (the first container
# start with this profile: compile, then store), on a tmpfs and, when /run is not a
# tmpfs here, on /run's filesystem too (where bulwark-run keeps its cache); and a warm cache hit
# (every later start). Target: a warm hit under 0.2 ms. bulwark-run's start, end to end, is
# tests/bench/start_latency.sh.
#
# record (bulwark-seccomp record and check). Workloads: `bw-bench-seccomp loop N` (N getppid
# calls: the cheapest call, so the worst case per call), `dd if=/dev/zero of=/dev/null bs=1`
# (a real program, one read and one write per byte, N calls in all) and, for check only, N/10
# mount calls that Docker's profile denies. Modes, interleaved run by run: bare; `record -o FILE
# -- CMD`; `check --profile PROFILE -- CMD`. Both tools use seccomp user notification
# (lib/seccomp/supervise.h): record loads a one-instruction filter that sends every call to the
# recorder, which notes it and lets it continue (SECCOMP_USER_NOTIF_FLAG_CONTINUE): one round
# trip between two processes per call. check loads the profile's own program with every denying
# return turned into a notification: allowed calls cost what the real filter costs, only the
# would-be denials make the round trip. Each time is the whole tool run (start, the command,
# then writing the profile or the report). Last, `bw-bench-seccomp supervise` times the
# mechanism alone (seccomp::supervise with an observer that does nothing) and says whether the
# kernel took SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6+: supervisor and caller woken on the same
# CPU). There is no target here; the ratios are the result.
#
# Everything runs in a private mount namespace (unshare -m) with its scratch space on a tmpfs;
# whatever it makes outside (a directory under /run when /run is not a tmpfs) is removed at the
# end, also when interrupted.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
rounds=${BENCH_ROUNDS:-15}
calls=${BENCH_CALLS:-20000}
compile_runs=${BENCH_COMPILE_RUNS:-50}
record_calls=${BENCH_RECORD_CALLS:-200000}
record_runs=${BENCH_RECORD_RUNS:-5}
parts=${BENCH_PARTS:-cost compile record}
build=${BULWARK_BUILD:-$here/../../build}
profile=${DOCKER_SECCOMP_PROFILE:-/work/shared/compat/docker-default-seccomp.json}
strict=0
usage() { awk 'NR > 1 { if (!/^#/ || /^# Needs root/) exit; sub(/^# ?/, ""); print }' "$0"; }
while getopts r:c:m:n:t:o:b:p:sh opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    c) calls=$OPTARG ;;
    m) compile_runs=$OPTARG ;;
    n) record_calls=$OPTARG ;;
    t) record_runs=$OPTARG ;;
    o) parts=$OPTARG ;;
    b) build=$OPTARG ;;
    p) profile=$OPTARG ;;
    s) strict=1 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

die() { echo "seccomp_bench: $*" >&2; exit 1; }
positive() { case $2 in '' | *[!0-9]* | 0) die "-$1 wants a positive number, not '$2'" ;; esac; }
positive r "$rounds"; positive c "$calls"; positive m "$compile_runs"
positive n "$record_calls"; positive t "$record_runs"
[ "$record_calls" -ge 10 ] || die "-n wants at least 10 calls"
for p in $parts; do
  case $p in cost | compile | record) ;; *) die "unknown part '$p' (cost, compile, record)" ;; esac
done
[ "$(id -u)" = 0 ] || die "needs root (a private mount namespace and a tmpfs for scratch)"

# Everything below runs in a private mount namespace of its own.
if [ -z "${BULWARK_BENCH_IN_NS:-}" ]; then
  BULWARK_BENCH_IN_NS=1 BENCH_ROUNDS=$rounds BENCH_CALLS=$calls BENCH_COMPILE_RUNS=$compile_runs \
    BENCH_RECORD_CALLS=$record_calls BENCH_RECORD_RUNS=$record_runs BENCH_PARTS=$parts \
    BULWARK_BUILD=$build DOCKER_SECCOMP_PROFILE=$profile BENCH_STRICT=$strict \
    exec unshare --mount --propagation private -- sh "$0"
fi
strict=${BENCH_STRICT:-0}

[ -d "$build" ] || die "no build directory '$build': build first (cmake --build build -j2)"
build=$(cd "$build" && pwd)
case $build in *[[:space:]]*) die "the build directory '$build' has blanks" ;; esac
tool=$build/tests/bench/bw-bench-seccomp
seccomp_tool=$build/tools/seccomp/bulwark-seccomp
for f in "$tool" "$seccomp_tool"; do
  [ -x "$f" ] || die "$f is missing: build first (cmake --build build -j2)"
done
[ -r "$profile" ] || die "no Docker seccomp profile at '$profile' (use -p)"
profile=$(cd "$(dirname "$profile")" && pwd)/$(basename "$profile")
has() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }

# --- Scratch space, and cleanup of everything this script makes -----------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-seccomp-bench.XXXXXX")
run_dir=""
cleanup() {
  status=$?
  trap - EXIT INT TERM HUP
  if [ -n "$run_dir" ]; then rm -rf "$run_dir"; fi
  # The tmpfs vanishes with this mount namespace; the directory under it does not.
  umount "$work" 2>/dev/null || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

case $work in *[[:space:]]*) die "the scratch directory '$work' has blanks: set TMPDIR" ;; esac
mount -t tmpfs -o mode=0700 bulwark-seccomp-bench "$work"
: >"$work/log"
: >"$work/targets"

# --- Header ----------------------------------------------------------------------------------
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
libseccomp=$(dpkg-query -W -f '${Version}' libseccomp2 2>/dev/null || pkg-config --modversion libseccomp 2>/dev/null || echo unknown)
echo "Seccomp benchmarks with Docker's default profile ($(basename "$profile"))"
echo "Host: $(uname -sr), $(nproc) CPU(s)${cpu:+, $cpu}; libseccomp $libseccomp;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo

# show FILE: prints a part's report and keeps its target lines for the summary.
show() {
  cat "$1"
  grep '^  target ' "$1" >>"$work/targets" || true
  echo
}

# --- 1. Per-syscall cost ---------------------------------------------------------------------
if has cost; then
  echo "== 1. Per-syscall cost"
  "$tool" cost --profile "$profile" --rounds "$rounds" --calls "$calls" >"$work/cost.txt" ||
    die "bw-bench-seccomp cost failed"
  show "$work/cost.txt"
fi

# --- 2. Compile time -------------------------------------------------------------------------
if has compile; then
  echo "== 2. Compile time"
  set -- --cache-dir "$work/cache"
  # bulwark-run's cache lives in /run/bulwark; when /run is not a tmpfs here, storing a
  # program costs what a write to that filesystem costs: measure there too.
  if [ "$(stat -f -c %T /run)" != tmpfs ]; then
    run_dir=$(mktemp -d /run/bw-bench-seccomp.XXXXXX)
    set -- "$@" --cache-dir "$run_dir/cache"
  fi
  "$tool" compile --profile "$profile" --runs "$compile_runs" "$@" >"$work/compile.txt" ||
    die "bw-bench-seccomp compile failed"
  show "$work/compile.txt"
  if [ -n "$run_dir" ]; then rm -rf "$run_dir"; run_dir=""; fi
fi

# --- 3. record and check overhead ------------------------------------------------------------
if has record; then
  echo "== 3. record and check overhead"
  n=$record_calls
  half=$((n / 2))
  tenth=$((n / 10))
  # name|expected check status|command: the workloads.
  workloads="true|0|true
loop|0|$tool loop $n
dd|0|dd if=/dev/zero of=/dev/null bs=1 count=$half
denied|1|$tool loop $tenth mount"

  # timed RESULTS STATUS CMD...: one timed run, its output to the log.
  timed() {
    t_out=$1 t_status=$2
    shift 2
    "$tool" time "$t_out" "$t_status" "$@" </dev/null >>"$work/log" 2>&1 && return 0
    tail -n 20 "$work/log" >&2
    die "failed: $*"
  }

  # record works? One untimed run per workload, which also counts the calls it makes.
  record_ok=1
  echo "$workloads" | while IFS='|' read -r name want cmd; do
    # shellcheck disable=SC2086 # cmd is a list of words without blanks
    if "$seccomp_tool" record --json -o "$work/profile.$name.json" -- $cmd </dev/null \
        >"$work/record.$name.json" 2>>"$work/log"; then
      sed -n 's/^ *"calls": *\([0-9]*\),*$/\1/p' "$work/record.$name.json" >"$work/calls.$name"
    else
      echo "record failed on '$cmd'" >>"$work/record-failed"
    fi
  done
  if [ -e "$work/record-failed" ]; then
    record_ok=0
    echo "bulwark-seccomp record is not working here; its timings are left out:"
    sed 's/^/  /' "$work/record-failed"
    tail -n 5 "$work/log" | sed 's/^/  log: /'
  fi

  modes="bare record check"
  [ "$record_ok" = 1 ] || modes="bare check"
  i=0
  while [ "$i" -lt "$record_runs" ]; do
    i=$((i + 1))
    echo "$workloads" | while IFS='|' read -r name want cmd; do
      # Rotate the modes from run to run.
      # shellcheck disable=SC2086
      set -- $modes
      k=$((i % $#))
      while [ "$k" -gt 0 ]; do first=$1; shift; set -- "$@" "$first"; k=$((k - 1)); done
      for mode in "$@"; do
        # shellcheck disable=SC2086 # cmd is a list of words without blanks
        case $mode in
          bare) timed "$work/t.$name.bare" 0 $cmd ;;
          record)
            [ "$name" = denied ] && continue
            timed "$work/t.$name.record" 0 "$seccomp_tool" record -o "$work/profile.$name.json" -- $cmd ;;
          check) timed "$work/t.$name.check" "$want" "$seccomp_tool" check --profile "$profile" -- $cmd ;;
        esac
      done
    done
  done

  med() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.0f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
  echo "Wall time of the whole tool run, median of $record_runs runs per workload and mode, interleaved"
  echo "(calls: counted by an untimed 'record --json' run; us/call: (mode - bare - the mode's fixed"
  echo " cost from the 'true' row) / calls)"
  printf '%-34s %8s %9s %10s %7s %8s %9s %7s %8s\n' workload calls "bare ms" "record ms" "x bare" \
    "us/call" "check ms" "x bare" "us/call"
  echo "$workloads" | while IFS='|' read -r name want cmd; do
    per=""  # what us/call divides by: the calls, or for 'denied' the denials
    case $name in
      true) label="true (the tools' fixed cost)" ;;
      loop) label="loop: getppid x $n" ;;
      dd) label="dd bs=1 count=$half" ;;
      denied) label="loop: mount x $tenth (denied)"; per=$tenth ;;
    esac
    c=$(cat "$work/calls.$name" 2>/dev/null || true)
    [ -n "$c" ] || c=0
    [ -n "$per" ] || per=$c
    bare=$(med "$work/t.$name.bare")
    rec=-
    [ -s "$work/t.$name.record" ] && rec=$(med "$work/t.$name.record")
    chk=$(med "$work/t.$name.check")
    # The 'true' row comes first: its extra time over bare is each tool's fixed cost, which
    # the per-call figures of the other rows leave out.
    if [ "$name" = true ]; then
      fixed_rec=0
      [ "$rec" = - ] || fixed_rec=$((rec - bare))
      fixed_chk=$((chk - bare))
    fi
    awk -v label="$label" -v c="$c" -v per="$per" -v b="$bare" -v r="$rec" -v k="$chk" \
      -v fr="$fixed_rec" -v fk="$fixed_chk" -v fixed="$([ "$name" = true ] && echo 1 || echo 0)" 'BEGIN {
      rcol = r == "-" ? sprintf("%10s %7s %8s", "-", "-", "-") : \
        sprintf("%10.1f %7.1f %8s", r / 1e6, r / b, fixed || per <= 0 ? "-" : sprintf("%.2f", (r - b - fr) / per / 1e3))
      printf "%-34s %8d %9.1f %s %9.1f %7.2f %8s\n", label, c, b / 1e6, rcol, k / 1e6, k / b,
        fixed || per <= 0 ? "-" : sprintf("%.2f", (k - b - fk) / per / 1e3)
    }'
  done
  echo "  (true: the tools' own start and finish, part of every row. denied: mount calls, which Docker's"
  echo "   profile denies; record is not run on them, and check's us/call is per reported denial:"
  echo "   a notification round trip plus check's bookkeeping)"
  echo
  "$tool" supervise "$n" --rounds "$record_runs" || die "bw-bench-seccomp supervise failed"
  echo
fi

# --- Summary ---------------------------------------------------------------------------------
pass=$(grep -c ' PASS' "$work/targets" || true)
miss=$(grep -c ' MISS' "$work/targets" || true)
echo "== Summary: $pass target(s) met, $miss missed"
grep ' MISS' "$work/targets" | sed 's/^  target /  /' || true
if [ "$strict" = 1 ] && [ "$miss" -gt 0 ]; then exit 1; fi
exit 0
