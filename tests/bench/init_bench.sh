#!/bin/sh
# bulwark-init against tini and s6-svscan on the same machine, in one run: the idle footprint
# of a supervisor of 20 services, the time from starting bulwark-init to 20 services ready,
# and the reaping of 10,000 orphaned zombies. A benchmark, not a test: it reports figures and
# PASS/MISS against targets.
#
# usage: tests/bench/init_bench.sh [-i SECS] [-S SECS] [-n N] [-w W] [-r R] [-z Z] [-b BUILD_DIR] [-s]
#   -i SECS   idle window over which wake-ups are counted (default 30; env BENCH_IDLE)
#   -S SECS   settle time once all 20 services run, before the window (default 3; env BENCH_SETTLE)
#   -n N      recorded bulwark-init starts per start variant (default 20; env BENCH_N)
#   -w W      unrecorded warm-up rounds of starts first (default 1; env BENCH_WARMUP)
#   -r R      orphan rounds per reaper (default 3; env BENCH_ROUNDS)
#   -z Z      orphans per round (default 10000; env BENCH_ORPHANS)
#   -b DIR    build directory holding init/bulwark-init, tests/helper/bw-probe and
#             tests/bench/bw-bench-orphans (default: build/ of this checkout; env BULWARK_BUILD)
#   -s        strict: exit 1 when bulwark-init misses a target (otherwise exit 0)
#   -h        this help
#
# Needs root (pid and mount namespaces, cgroups) and unshare(1). tini and s6 (Debian packages
# tini, s6) are compared when installed, and skipped otherwise. Build first:
#   cmake --build build -j2 --target bulwark-init bw-probe bw-bench-orphans
#
# How it measures. Every supervisor runs as PID 1 of a pid namespace of its own (unshare
# --pid --fork --mount-proc --kill-child), so that every orphan goes to it, all run alike,
# and killing it ends everything it started; this script stops each one by pid (SIGTERM,
# SIGKILL after 10 s) and leaves nothing behind: no process, no directory, no cgroup.
#  * Idle: all supervisors run side by side, each with 20 processes `sleep 100000`:
#    bulwark-init with 20 services (`exec`, no cgroups: --cgroup-parent is not given);
#    tini -s whose child, a shell, leaves 19 sleeps behind as orphans (re-parented to tini)
#    and execs the 20th - tini supervises one child and reaps the rest, it has no notion of
#    services; s6-svscan with a scan directory of 20 services whose `run` execs the sleep -
#    s6-svscan starts one s6-supervise per service, so s6 is reported both as s6-svscan alone
#    and as s6-svscan plus its 20 s6-supervise processes, summed. Once all 20 run and after
#    the settle time, the voluntary and involuntary context switches of the supervisor's
#    threads (/proc/PID/task/*/status) are counted over the window and scaled to a minute:
#    each time a blocked process runs again is one. RSS, RssAnon and RssFile come from
#    /proc/PID/status, PSS (shared pages divided among their users) from smaps_rollup, at the
#    end of the window. The sleeps themselves are not counted.
#  * Start: bulwark-init supervises 20 services `bw-probe ...` (static), plus a 21st,
#    `ready`, that requires all 20 and, when started, appends the CLOCK_MONOTONIC time to a
#    file. In the new namespace, `bw-bench-orphans stamp` appends the time immediately
#    before it execs bulwark-init. One start is the difference: bulwark-init's own start,
#    reading 21 files, starting 20 services, seeing them ready, and starting one more process
#    that writes the stamp (an upper bound by that last process's exec). Four variants:
#    ready = "notify" (each service sends READY=1 through $NOTIFY_SOCKET, then sleeps) or
#    ready = "started" (each sleeps at once), each with process groups only (no
#    --cgroup-parent) or with a cgroup per service (--cgroup-parent, a cgroup of this run's
#    own under the cgroup2 mount, removed at the end; skipped without cgroup2). Starts are
#    interleaved: each round starts every variant once, in an order rotated from round to
#    round; each start has fresh state and log directories.
#  * Orphans: the supervisor's only service (tini's child, s6's only service) is
#    `bw-bench-orphans orphans Z`: it forks a process that forks Z children which exit at
#    once; when all Z are zombies that process reads the clock and exits, and the kernel
#    re-parents the Z zombies to PID 1 (one SIGCHLD each). The service then polls PID 1's
#    children until they are back to what they were (all Z reaped) and reads the clock: the
#    time is from orphaning to all reaped; the reaper's CPU time in between comes from
#    /proc/1/schedstat. Afterwards the script checks that no zombie is left. Rounds are
#    interleaved like the starts.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
idle=${BENCH_IDLE:-30}
settle=${BENCH_SETTLE:-3}
n=${BENCH_N:-20}
warmup=${BENCH_WARMUP:-1}
rounds=${BENCH_ROUNDS:-3}
orphans=${BENCH_ORPHANS:-10000}
build=${BULWARK_BUILD:-$here/../../build}
strict=0
usage() { awk 'NR > 1 { if (!/^#/ || /^# Needs root/) exit; sub(/^# ?/, ""); print }' "$0"; }
while getopts i:S:n:w:r:z:b:sh opt; do
  case $opt in
    i) idle=$OPTARG ;;
    S) settle=$OPTARG ;;
    n) n=$OPTARG ;;
    w) warmup=$OPTARG ;;
    r) rounds=$OPTARG ;;
    z) orphans=$OPTARG ;;
    b) build=$OPTARG ;;
    s) strict=1 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

die() { echo "init_bench: $*" >&2; exit 1; }
positive() { case $2 in '' | *[!0-9]* | 0) die "$1 wants a positive number, not '$2'" ;; esac; }
positive -i "$idle"; positive -n "$n"; positive -r "$rounds"; positive -z "$orphans"
case $settle in '' | *[!0-9]*) die "-S wants a number, not '$settle'" ;; esac
case $warmup in '' | *[!0-9]*) die "-w wants a number, not '$warmup'" ;; esac
[ "$(id -u)" = 0 ] || die "needs root (pid and mount namespaces, cgroups)"
command -v unshare >/dev/null 2>&1 || die "needs unshare(1) (util-linux)"

[ -d "$build" ] || die "no build directory '$build': build first"
build=$(cd "$build" && pwd)
init=$build/init/bulwark-init
probe=$build/tests/helper/bw-probe
helper=$build/tests/bench/bw-bench-orphans
for f in "$init" "$probe" "$helper"; do
  [ -x "$f" ] || die "$f is missing: build first (cmake --build build -j2 --target bulwark-init bw-probe bw-bench-orphans)"
done
tini=$(command -v tini || true)
tini_static=$(command -v tini-static || true)
s6=$(command -v s6-svscan || true)
[ -n "$tini" ] || echo "init_bench: tini is not installed, skipping it" >&2
[ -n "$s6" ] || echo "init_bench: s6-svscan is not installed, skipping it" >&2

# --- Scratch space, and cleanup of everything this script starts or makes --------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-initbench.XXXXXX")
case $work in *[[:space:]]*) rmdir "$work"; die "the scratch directory '$work' has blanks: set TMPDIR" ;; esac
chmod 0755 "$work"
running=""      # pids of the unshare processes still running (each one's child is a PID 1)
cgroup_dir=""   # this run's cgroup, when the start variants use cgroups
# POSIX sh has no local variables: those of the functions below start with the function's
# initials, so that no function changes a caller's loop counter.

# The init of the namespace that unshare process $1 made ("" when there is none).
ns_init() {
  kids=""
  { read -r kids _ <"/proc/$1/task/$1/children"; } 2>/dev/null || true
  echo "$kids"
}
# True while $2 is still a child of unshare process $1 (an unwaited child of ours, so its
# pid is not reused): only then is $2 signalled.
is_child_of() { [ -n "$2" ] && [ "$(awk '$1 == "PPid:" { print $2 }' "/proc/$2/status" 2>/dev/null)" = "$1" ]; }
forget() {
  f_rest=""
  for f_p in $running; do [ "$f_p" = "$1" ] || f_rest="$f_rest $f_p"; done
  running=$f_rest
}
# finish UNSHARE_PID: stops the namespace's init (SIGTERM, then SIGKILL after 10 s; killing a
# namespace's init kills everything in the namespace) and waits for unshare.
finish() {
  fi_pid1=$(ns_init "$1")
  if is_child_of "$1" "$fi_pid1"; then
    kill -TERM "$fi_pid1" 2>/dev/null || true
    fi_n=0
    while is_child_of "$1" "$fi_pid1" && [ "$fi_n" -lt 200 ]; do sleep 0.05; fi_n=$((fi_n + 1)); done
    if is_child_of "$1" "$fi_pid1"; then kill -KILL "$fi_pid1" 2>/dev/null || true; fi
  fi
  wait "$1" 2>/dev/null || true
  forget "$1"
}

# remove_cgroups: this run's cgroup and the services' cgroups in it; their processes may
# still be dying when a namespace was just killed, so it tries for up to 5 s.
remove_cgroups() {
  [ -n "$cgroup_dir" ] && [ -d "$cgroup_dir" ] || return 0
  rc_n=0
  while [ "$rc_n" -lt 50 ]; do
    for rc_d in "$cgroup_dir"/*/; do
      if [ -d "$rc_d" ]; then rmdir "$rc_d" 2>/dev/null || true; fi
    done
    if rmdir "$cgroup_dir" 2>/dev/null; then return 0; fi
    rc_n=$((rc_n + 1)); sleep 0.1
  done
  echo "init_bench: could not remove the cgroup $cgroup_dir" >&2
}

cleanup() {
  status=$?
  set +e
  trap - EXIT INT TERM HUP
  # SIGKILL to each namespace's init ends the namespace, and unshare reaps the init and exits;
  # an unshare without a child yet is killed itself (--kill-child takes the child along).
  for c_u in $running; do
    c_pid1=$(ns_init "$c_u")
    if is_child_of "$c_u" "$c_pid1"; then kill -KILL "$c_pid1" 2>/dev/null
    else kill -KILL "$c_u" 2>/dev/null; fi
    wait "$c_u" 2>/dev/null
  done
  remove_cgroups
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# launch NAME CMD [ARG...]: CMD as PID 1 of a new pid namespace, its output in $work/NAME.out;
# sets $upid, the unshare process.
launch() {
  l_out=$work/$1.out
  shift
  unshare --pid --fork --mount-proc --kill-child -- "$@" </dev/null >"$l_out" 2>&1 &
  upid=$!
  running="$running $upid"
}
# pid1_of UNSHARE_PID: waits (up to 5 s) for the namespace's init and prints its pid.
pid1_of() {
  po_n=0
  while :; do
    po_p=$(ns_init "$1")
    [ -n "$po_p" ] && { echo "$po_p"; return 0; }
    po_n=$((po_n + 1))
    [ "$po_n" -lt 500 ] || return 1
    sleep 0.01
  done
}
nchildren() { cat "/proc/$1/task/"*/children 2>/dev/null | wc -w; }
# wait_for SECS COMMAND...: polls COMMAND every 50 ms until it succeeds; false on a timeout.
wait_for() {
  wf_limit=$(($1 * 20))
  shift
  wf_n=0
  until "$@"; do
    wf_n=$((wf_n + 1))
    [ "$wf_n" -lt "$wf_limit" ] || return 1
    sleep 0.05
  done
}
show_output() { echo "--- $1:" >&2; tail -n 20 "$work/$1.out" >&2 || true; }

# bulwark-init's command line for a config dir ($1), a run directory ($2) and more options.
bulwark_cmd() {
  bc_cfg=$1 bc_run=$2
  shift 2
  echo "$init --supervisor --config-dir $bc_cfg --state-dir $bc_run/state --socket $bc_run/control.sock --log-dir $bc_run/log $*"
}

# ============================================================================================
# Idle footprint: 20 sleeps under each supervisor, side by side
# ============================================================================================
idle_dir=$work/idle
mkdir -p "$idle_dir/bulwark/cfg" "$idle_dir/s6"
i=1
while [ "$i" -le 20 ]; do
  name=$(printf 's%02d' "$i")
  echo 'exec = ["/bin/sleep", "100000"]' >"$idle_dir/bulwark/cfg/$name.toml"
  if [ -n "$s6" ]; then
    mkdir "$idle_dir/s6/$name"
    printf '#!/bin/sh\nexec /bin/sleep 100000\n' >"$idle_dir/s6/$name/run"
    chmod 0755 "$idle_dir/s6/$name/run"
  fi
  i=$((i + 1))
done
# 19 sleeps left to tini as orphans, and the shell that left them becomes the 20th.
# shellcheck disable=SC2016 # expanded by that shell
tini_child='i=1; while [ $i -lt 20 ]; do (/bin/sleep 100000 &); i=$((i + 1)); done; exec /bin/sleep 100000'

# "SUBJECT UNSHARE_PID" lines, then "SUBJECT UNSHARE_PID PID1" once the 20 sleeps run.
: >"$work/idle.launched"
# shellcheck disable=SC2046 # bulwark_cmd prints words without blanks
launch idle-bulwark $(bulwark_cmd "$idle_dir/bulwark/cfg" "$idle_dir/bulwark")
echo "bulwark $upid" >>"$work/idle.launched"
if [ -n "$tini" ]; then
  launch idle-tini "$tini" -s -- /bin/sh -c "$tini_child"
  echo "tini $upid" >>"$work/idle.launched"
fi
if [ -n "$tini_static" ]; then
  launch idle-tini-static "$tini_static" -s -- /bin/sh -c "$tini_child"
  echo "tini-static $upid" >>"$work/idle.launched"
fi
if [ -n "$s6" ]; then
  launch idle-s6 "$s6" "$idle_dir/s6"
  echo "s6 $upid" >>"$work/idle.launched"
fi

children() { cat "/proc/$1/task/"*/children 2>/dev/null || true; }
sleeps_under() {  # PID: how many of its children are sleeps
  su_n=0
  for su_k in $(children "$1"); do
    if [ "$(cat "/proc/$su_k/comm" 2>/dev/null)" = sleep ]; then su_n=$((su_n + 1)); fi
  done
  echo "$su_n"
}
all_up() {  # SUBJECT PID1: whether its 20 sleeps run (for s6, one under each s6-supervise)
  case $1 in
    s6)
      [ "$(nchildren "$2")" = 20 ] || return 1
      au_n=0
      for au_k in $(children "$2"); do au_n=$((au_n + $(sleeps_under "$au_k"))); done
      [ "$au_n" = 20 ] ;;
    *) [ "$(sleeps_under "$2")" = 20 ] ;;
  esac
}
while read -r s u; do
  p=$(pid1_of "$u") || { show_output "idle-$s"; die "$s did not start"; }
  wait_for 10 all_up "$s" "$p" || { show_output "idle-$s"; die "$s: its 20 sleeps did not come up"; }
  echo "$s $u $p" >>"$work/idle.subjects"
done <"$work/idle.launched"

# sample PID...: "rss_kb anon_kb file_kb pss_kb context_switches", summed over the processes.
sample() {
  for q in "$@"; do
    awk 'FILENAME ~ /\/task\// { if ($1 ~ /ctxt_switches:/) c += $2; next }
         FILENAME ~ /smaps_rollup/ { if ($1 == "Pss:") s += $2; next }
         $1 == "VmRSS:" { r += $2 } $1 == "RssAnon:" { a += $2 } $1 == "RssFile:" { f += $2 }
         END { printf "%d %d %d %d %d\n", r, a, f, s, c }' \
      "/proc/$q/status" "/proc/$q/smaps_rollup" "/proc/$q/task/"*/status
  done | awk '{ for (i = 1; i <= 5; i++) t[i] += $i } END { printf "%d %d %d %d %d\n", t[1], t[2], t[3], t[4], t[5] }'
}
# The rows of the table, "ROW PID...": each supervisor, and s6-svscan with its s6-supervise.
: >"$work/idle.rows"
while read -r s u p; do
  echo "$s $p" >>"$work/idle.rows"
  if [ "$s" = s6 ]; then echo "s6+supervise $p $(children "$p")" >>"$work/idle.rows"; fi
done <"$work/idle.subjects"
# snapshot FILE: one sample per row.
snapshot() {
  while read -r row pids; do
    # shellcheck disable=SC2086 # a list of pids
    echo "$row $(sample $pids)"
  done <"$work/idle.rows" >"$1"
}
sleep "$settle"
snapshot "$work/idle.before"
sleep "$idle"
snapshot "$work/idle.after"
# Still all there: nothing died or restarted during the window.
while read -r s u p; do
  all_up "$s" "$p" || { show_output "idle-$s"; die "$s: its 20 sleeps are no longer all there"; }
  finish "$u"
done <"$work/idle.subjects"

# ============================================================================================
# Start: bulwark-init until 20 services are ready
# ============================================================================================
start_dir=$work/start
variants="notify:pgroup started:pgroup"
cgroup_mount=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -n "$cgroup_mount" ] && [ -w "$cgroup_mount" ]; then
  cgroup_rel=bulwark-initbench-$$
  cgroup_dir=$cgroup_mount/$cgroup_rel
  variants="$variants notify:cgroup started:cgroup"
else
  echo "init_bench: no writable cgroup2 mount, skipping the cgroup variants" >&2
fi
names=""
i=1
while [ "$i" -le 20 ]; do names="$names $(printf 's%02d' "$i")"; i=$((i + 1)); done
for ready in notify started; do
  cfg=$start_dir/$ready
  mkdir -p "$cfg"
  requires=""
  for name in $names; do
    if [ "$ready" = notify ]; then
      printf 'exec = ["%s", "notify", "READY=1", "--", "sleep", "inf"]\nready = "notify"\n' "$probe"
    else
      printf 'exec = ["%s", "sleep", "inf"]\n' "$probe"
    fi >"$cfg/$name.toml"
    requires="$requires${requires:+, }\"$name\""
  done
  printf 'exec = ["%s", "stamp", "%s/ready"]\nrequires = [%s]\nrestart = "no"\n' \
    "$helper" "$start_dir" "$requires" >"$cfg/ready.toml"
done
mkdir -p "$work/results"

# start_once VARIANT RESULTS: one start, its time in ns appended to RESULTS.
start_once() {
  so_ready=${1%%:*} so_groups=${1#*:}
  so_run=$start_dir/run
  rm -rf "$so_run" "$start_dir/t0" "$start_dir/ready"
  mkdir -p "$so_run"
  so_extra=""
  if [ "$so_groups" = cgroup ]; then so_extra="--cgroup-parent $cgroup_rel"; fi
  # shellcheck disable=SC2046,SC2086 # words without blanks
  launch start "$helper" stamp "$start_dir/t0" $(bulwark_cmd "$start_dir/$so_ready" "$so_run" $so_extra)
  if ! wait_for 20 test -s "$start_dir/ready"; then
    show_output start
    die "bulwark-init ($1): the 20 services were not all ready within 20 s"
  fi
  finish "$upid"
  [ "$(wc -l <"$start_dir/ready")" = 1 ] || die "bulwark-init ($1): 'ready' started more than once"
  echo $(($(cat "$start_dir/ready") - $(cat "$start_dir/t0"))) >>"$2"
}
nvariants=$(echo "$variants" | wc -w)
# start_round KIND I: every variant once, the list rotated by I.
start_round() {
  sr_k=$(($2 % nvariants))
  sr_kind=$1
  # shellcheck disable=SC2086
  set -- $variants
  while [ "$sr_k" -gt 0 ]; do sr_first=$1; shift; set -- "$@" "$sr_first"; sr_k=$((sr_k - 1)); done
  for sr_v in "$@"; do
    if [ "$sr_kind" = warm ]; then start_once "$sr_v" "$work/results/warmup"
    else start_once "$sr_v" "$work/results/start.$sr_v"; fi
  done
}
i=0
while [ "$i" -lt "$warmup" ]; do i=$((i + 1)); start_round warm "$i"; done
i=0
while [ "$i" -lt "$n" ]; do i=$((i + 1)); start_round run "$i"; done
remove_cgroups

# ============================================================================================
# Orphans: Z zombies re-parented to PID 1 at once, until all are reaped
# ============================================================================================
orphan_dir=$work/orphans
mkdir -p "$orphan_dir/bulwark/cfg"
printf 'exec = ["%s", "orphans", "%s", "%s/result"]\nrestart = "no"\n' \
  "$helper" "$orphans" "$orphan_dir" >"$orphan_dir/bulwark/cfg/orphans.toml"
reapers="bulwark"
[ -n "$tini" ] && reapers="$reapers tini"
if [ -n "$s6" ]; then
  reapers="$reapers s6"
  mkdir -p "$orphan_dir/s6/orphans"
  printf '#!/bin/sh\nexec %s orphans %s %s/result 1\n' "$helper" "$orphans" "$orphan_dir" \
    >"$orphan_dir/s6/orphans/run"
  chmod 0755 "$orphan_dir/s6/orphans/run"
fi

zombies_under() {  # PID: its children in state Z
  zu_n=0
  for zu_k in $(children "$1"); do
    if [ "$(awk '$1 == "State:" { print $2 }' "/proc/$zu_k/status" 2>/dev/null)" = Z ]; then
      zu_n=$((zu_n + 1))
    fi
  done
  echo "$zu_n"
}
# reap_once REAPER RESULTS: "ns cpu_ns zombies_left" appended to RESULTS.
reap_once() {
  rm -f "$orphan_dir/result"
  case $1 in
    bulwark)
      rm -rf "$orphan_dir/bulwark/run"
      # shellcheck disable=SC2046
      launch orphans $(bulwark_cmd "$orphan_dir/bulwark/cfg" "$orphan_dir/bulwark/run") ;;
    tini) launch orphans "$tini" -s -- "$helper" orphans "$orphans" "$orphan_dir/result" ;;
    s6)
      rm -rf "$orphan_dir/s6/.s6-svscan" "$orphan_dir/s6/orphans/supervise" "$orphan_dir/s6/orphans/event"
      launch orphans "$s6" "$orphan_dir/s6" ;;
  esac
  if ! wait_for 120 test -s "$orphan_dir/result"; then
    show_output orphans
    die "$1: $orphans orphans not all reaped within 120 s"
  fi
  ro_left=$(zombies_under "$(ns_init "$upid")")
  finish "$upid"
  read -r ro_count ro_ns ro_cpu <"$orphan_dir/result"
  [ "$ro_count" = "$orphans" ] || die "$1: the helper reports $ro_count orphans, not $orphans"
  echo "$ro_ns $ro_cpu $ro_left" >>"$2"
}
nreapers=$(echo "$reapers" | wc -w)
i=0
while [ "$i" -lt "$rounds" ]; do
  i=$((i + 1))
  k=$((i % nreapers))
  # shellcheck disable=SC2086
  set -- $reapers
  while [ "$k" -gt 0 ]; do first=$1; shift; set -- "$@" "$first"; k=$((k - 1)); done
  for r in "$@"; do reap_once "$r" "$work/results/reap.$r"; done
done

# ============================================================================================
# Report
# ============================================================================================
version() {
  case $1 in
    bulwark) echo "bulwark-init ($init)" ;;
    tini) echo "$("$tini" --version) ($tini)" ;;
    tini-static) echo "$("$tini_static" --version) ($tini_static)" ;;
    s6) echo "s6 $(dpkg-query -W -f '${Version}' s6 2>/dev/null || echo '(version unknown)') ($s6)" ;;
  esac
}
echo "bulwark-init against tini and s6-svscan: idle with 20 services, start to 20 ready," \
  "reaping $orphans orphans"
echo "Host: $(uname -sr), $(nproc) CPU(s); $(date -u '+%Y-%m-%d %H:%M UTC')"
while read -r s _; do echo "  $(version "$s")"; done <"$work/idle.subjects"
echo

echo "Idle, 20 sleeps each; wake-ups counted over $idle s after $settle s, per minute:"
awk -v secs="$idle" '
  function name(r) {
    return r == "bulwark" ? "bulwark-init" : r == "s6" ? "s6-svscan" : \
      r == "s6+supervise" ? "s6-svscan + 20 s6-supervise" : r
  }
  FNR == NR { c0[$1] = $6; next }
  { printf "%-28s %8d %8d %8d %8d %13.1f\n", name($1), $2, $3, $4, $5, ($6 - c0[$1]) * 60 / secs }
  BEGIN { printf "%-28s %8s %8s %8s %8s %13s\n", "process", "RSS KiB", "anon KiB", "file KiB", "PSS KiB", "wake-ups/min" }
' "$work/idle.before" "$work/idle.after"
echo

# stats FILE [COLUMN]: "median p90 min max" of a column (default 1), p90 by nearest rank.
stats() {
  cut -d' ' -f"${2:-1}" "$1" | sort -n | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    r = int(0.9 * NR + 0.999999); if (r < 1) r = 1
    printf "%.0f %.0f %.0f %.0f\n", m, v[r], v[1], v[NR] }'
}
echo "Start to 20 services ready (bulwark-init): $n starts per variant, interleaved," \
  "after $warmup warm-up round(s)"
printf '%-34s %10s %10s %10s %10s\n' "variant" "median ms" "p90 ms" "min ms" "max ms"
: >"$work/start.stats"
for v in $variants; do
  # shellcheck disable=SC2046 # four numbers
  set -- $(stats "$work/results/start.$v")
  case $v in
    notify:*) label='ready = "notify"' ;;
    *) label='ready = "started"' ;;
  esac
  case $v in
    *:cgroup) label="$label, cgroup each" ;;
    *) label="$label, process groups" ;;
  esac
  awk -v l="$label" -v m="$1" -v p="$2" -v lo="$3" -v hi="$4" \
    'BEGIN { printf "%-34s %10.2f %10.2f %10.2f %10.2f\n", l, m / 1e6, p / 1e6, lo / 1e6, hi / 1e6 }'
  echo "$v $label|$1" >>"$work/start.stats"
done
echo

echo "Reaping $orphans orphaned zombies (as PID 1 of a pid namespace): $rounds round(s) per" \
  "reaper, interleaved"
printf '%-14s %10s %10s %16s %8s %14s\n' "reaper" "median ms" "max ms" "reaper CPU ms" "x tini" "zombies left"
tini_median=""
[ -n "$tini" ] && tini_median=$(stats "$work/results/reap.tini" | cut -d' ' -f1)
for r in $reapers; do
  # shellcheck disable=SC2046 # four numbers
  set -- $(stats "$work/results/reap.$r")
  med=$1 max=$4
  cpu=$(stats "$work/results/reap.$r" 2 | cut -d' ' -f1)
  left=$(awk '{ t += $3 } END { print t + 0 }' "$work/results/reap.$r")
  case $r in bulwark) label="bulwark-init" ;; s6) label="s6-svscan" ;; *) label=$r ;; esac
  awk -v l="$label" -v m="$med" -v x="$max" -v c="$cpu" -v t="$tini_median" -v z="$left" 'BEGIN {
    printf "%-14s %10.1f %10.1f %16s %8s %14d\n", l, m / 1e6, x / 1e6,
      c < 0 ? "-" : sprintf("%.1f", c / 1e6), t == "" ? "-" : sprintf("%.2f", m / t), z }'
  [ "$r" = bulwark ] && echo "$max $left" >"$work/reap.bulwark"
done
echo

# bulwark-init's RSS at the end of the window, and its wake-ups in the window.
awk 'FNR == NR { if ($1 == "bulwark") c0 = $6; next } $1 == "bulwark" { print $2, $6 - c0 }' \
  "$work/idle.before" "$work/idle.after" >"$work/idle.bulwark"
read -r rss wakes <"$work/idle.bulwark"
read -r reap_max reap_left <"$work/reap.bulwark"
awk -v rss="$rss" -v wakes="$wakes" -v secs="$idle" -v reap_max="$reap_max" -v left="$reap_left" \
  -v z="$orphans" -v strict="$strict" -F'|' '
  function verdict(ok) { if (!ok) miss++; return ok ? "PASS" : "MISS" }
  { sub(/^[^ ]* /, "", $1); label[NR] = $1; med[NR] = $2 }
  END {
    print "Targets for bulwark-init:"
    printf "  idle RSS < 2 MiB (2048 KiB): %d KiB  %s\n", rss, verdict(rss < 2048)
    printf "  no wake-ups while idle: %d in %d s  %s\n", wakes, secs, verdict(wakes == 0)
    for (i = 1; i <= NR; i++)
      printf "  20 ready < 100 ms (median, %s): %.2f ms  %s\n", label[i], med[i] / 1e6, verdict(med[i] < 100e6)
    printf "  %d orphans all reaped < 1 s (slowest round): %.1f ms, %d zombie(s) left  %s\n", z,
      reap_max / 1e6, left, verdict(reap_max < 1e9 && left == 0)
    if (miss) printf "%d target(s) missed\n", miss
    exit strict && miss ? 1 : 0
  }' "$work/start.stats"
