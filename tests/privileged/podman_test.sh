#!/bin/bash
# Drop-in test: podman (Debian's 4.3) drives bulwark-run through `--runtime`.
#
#   podman_test.sh PATH/TO/bulwark-run
#
# No image can be pulled, so containers run from a busybox rootfs made here
# (`podman run --rootfs`). Everything podman keeps (storage, run root, locks,
# events, exit files, network config) lives in a temporary directory, through
# command-line flags and a containers.conf/storage.conf of its own: nothing in
# /etc or /var/lib/containers is used or touched. bulwark-run keeps its state in
# its default root (/run/bulwark), as podman gives it no --root.
#
# Exit status: 0 pass, 1 fail, 77 skipped (not root, podman/conmon/busybox missing).
set -eu
set -o pipefail

RUNTIME=${1:?usage: podman_test.sh PATH/TO/bulwark-run}
RUNTIME_ROOT=/run/bulwark  # bulwark-run's default --root

skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root"
command -v podman >/dev/null || skip "podman is not installed"
command -v conmon >/dev/null || skip "conmon is not installed"
[ -x /bin/busybox ] || skip "busybox-static is not installed"
if ldd /bin/busybox >/dev/null 2>&1; then skip "/bin/busybox is dynamically linked (install busybox-static)"; fi
[ -x "$RUNTIME" ] || { echo "FAIL: runtime '$RUNTIME' is not executable"; exit 1; }
RUNTIME=$(readlink -f "$RUNTIME")

T=$(readlink -f "$(mktemp -d /tmp/bulwark-podman.XXXXXX)")
ROOTFS=$T/rootfs
IDS=()  # every container this test made, from --cidfile

PM_FLAGS=(--root "$T/root" --runroot "$T/runroot" --storage-driver vfs --cgroup-manager cgroupfs
          --events-backend file --tmpdir "$T/tmp" --network-config-dir "$T/net.d" --runtime "$RUNTIME")
pm() { timeout 120 podman "${PM_FLAGS[@]}" "$@"; }
export CONTAINERS_CONF=$T/containers.conf
export CONTAINERS_STORAGE_CONF=$T/storage.conf

# ---- cleanup: only what this test made, found by path or id ----

CG2=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") print $5; break } }' \
        /proc/self/mountinfo | head -n 1)
# podman (cgroupfs manager) makes libpod_parent/ and libpod_parent/conmon/ in each
# cgroup hierarchy; remember those that exist, to rmdir only the new ones.
cgroup_parents() {
  for d in /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent; do
    [ -d "$d" ] || continue
    [ -d "$d/conmon" ] && echo "$d/conmon"
    echo "$d"
  done
}
CGROUPS_BEFORE=$(cgroup_parents)

# Pids of processes that belong to this test: the containers' (their
# environment has MARKER, set in containers.conf) and podman's own (conmon,
# `podman container cleanup`: their command line names the temporary directory).
MARKER=BULWARK_PODMAN_TEST=$T
our_pids() {
  local p pid
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = $$ ] && continue
    # (grep reads all of its input: with -q, tr could die of SIGPIPE and fail the pipeline.)
    if tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -xF "$MARKER" >/dev/null ||
       tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -F "$T/" >/dev/null; then
      echo "$pid"
    fi
  done
}

our_mounts() {
  # mountinfo field 5 is the mount point (this path has no characters to escape).
  awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

cleanup() {
  local rc=$? pid m d id
  set +e
  trap - EXIT
  if [ -e "$T/containers.conf" ]; then pm rm --all --force --time 0 >/dev/null 2>&1; fi
  for pid in $(our_pids); do kill -KILL "$pid" 2>/dev/null; done
  for id in "${IDS[@]}"; do
    [ -d "$RUNTIME_ROOT/$id" ] && "$RUNTIME" delete --force "$id" >/dev/null 2>&1
  done
  for m in $(our_mounts); do umount -l "$m" 2>/dev/null; done
  for d in $(cgroup_parents); do
    printf '%s\n' "$CGROUPS_BEFORE" | grep -qxF "$d" || rmdir "$d" 2>/dev/null
  done
  if [ -z "$(our_mounts)" ]; then
    rm -rf --one-file-system "$T"
  else
    echo "warning: mounts left under $T, not removing it" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
  echo "FAIL: $*" >&2
  if [ -s "$T/err" ]; then
    echo "--- podman's stderr:" >&2
    cat "$T/err" >&2
  fi
  exit 1
}
expect_eq() {  # what got want
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
  echo "ok: $1 = '$3'"
}

# ---- podman, isolated ----

mkdir -p "$T/root" "$T/runroot" "$T/tmp" "$T/net.d" "$ROOTFS"/{bin,dev,etc,proc,sys,tmp}
cp /bin/busybox "$ROOTFS/bin/busybox"
for applet in sh echo cat grep id sleep ps tty true; do ln -s busybox "$ROOTFS/bin/$applet"; done

# Limits: podman asks for RLIMIT_NOFILE and RLIMIT_NPROC of 1048576 in every
# container; raising a hard limit needs CAP_SYS_RESOURCE, which a CI sandbox may
# lack (runc fails the same way there). Ask for what podman's own process has:
# the hard limits, with NPROC lowered to the 32768 podman sets for itself.
hard_nofile=$(ulimit -Hn)
hard_nproc=$(ulimit -Hu)
[ "$hard_nofile" = unlimited ] || [ "$hard_nofile" -gt 1048576 ] && hard_nofile=1048576
[ "$hard_nproc" = unlimited ] || [ "$hard_nproc" -gt 32768 ] && hard_nproc=32768

# podman's default pids limit (2048) needs the pids controller in cgroup2; on a
# v1/v2 hybrid host it is on v1 only and bulwark-run refuses the limit.
pids_setting=""
if [ -z "$CG2" ] || ! grep -qw pids "$CG2/cgroup.controllers" 2>/dev/null; then
  pids_setting="pids_limit = 0"
fi

# default_capabilities: the list Debian's containers-common ships, spelled out so
# that the expected capability mask below does not depend on podman's build.
cat >"$T/containers.conf" <<EOF
[containers]
env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", "$MARKER"]
default_capabilities = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE",
                        "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]
default_ulimits = ["nofile=$hard_nofile:$hard_nofile", "nproc=$hard_nproc:$hard_nproc"]
$pids_setting

[network]
network_config_dir = "$T/net.d"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
tmp_dir = "$T/tmp"
# podman passes --log-format=json to the runtimes named here and reads their errors from the log.
runtime_supports_json = ["bulwark-run", "crun", "runc"]
EOF
cat >"$T/storage.conf" <<EOF
[storage]
driver = "vfs"
runroot = "$T/runroot"
graphroot = "$T/root"
EOF
export TMPDIR=$T/tmp

n=0
# run_ctr [podman run options...] -- COMMAND...: runs a container from the
# rootfs; sets $out (stdout), $rc, $cid. stderr goes to $T/err.
run_ctr() {
  local opts=()
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  n=$((n + 1))
  rc=0
  out=$(pm run --cidfile "$T/cid.$n" --network none "${opts[@]}" --rootfs "$ROOTFS" "$@" 2>"$T/err") || rc=$?
  cid=$(cat "$T/cid.$n" 2>/dev/null || true)
  [ -z "$cid" ] || IDS+=("$cid")
}

echo "podman $(podman --version | awk '{print $3}') with $RUNTIME, in $T"

# ---- the tests ----

# podman really uses bulwark-run.
info_runtime=$(pm info --format '{{.Host.OCIRuntime.Path}}' 2>"$T/err") || fail "podman info"
expect_eq "podman info: OCI runtime" "$info_runtime" "$RUNTIME"

run_ctr --rm -- echo hello
expect_eq "run --rm echo hello: exit status" "$rc" 0
expect_eq "run --rm echo hello: output" "$out" hello

run_ctr --rm -- sh -c 'exit 3'
expect_eq "run --rm sh -c 'exit 3': exit status" "$rc" 3

run_ctr --rm -- /bin/no-such-command
expect_eq "run of a missing command: exit status (podman's 'command not found')" "$rc" 127
grep -q "no-such-command" "$T/err" || fail "the runtime's error does not name the missing command"
echo "ok: the runtime's error reaches the user: $(tail -n 1 "$T/err")"
# podman then runs `delete --force` on the container the runtime already
# cleaned up: that must succeed quietly, as with runc and crun.
if grep -q "after creation failed" "$T/err"; then fail "podman could not delete the failed container"; fi
echo "ok: no second error from deleting the failed container"

run_ctr --rm -i -- cat <<<from-stdin
expect_eq "run -i: exit status" "$rc" 0
expect_eq "run -i: stdin reaches the container" "$out" from-stdin

run_ctr --rm -t -- sh -c 'tty; exit 5' </dev/null
expect_eq "run -t: exit status" "$rc" 5
expect_eq "run -t: the process has a terminal" "$(printf '%s' "$out" | tr -d '\r')" /dev/pts/0

# podman's default seccomp profile (containers-common's seccomp.json, passed in
# config.json) is in force; seccomp=unconfined removes it.
run_ctr --rm -- grep Seccomp: /proc/self/status
expect_eq "seccomp mode with podman's default profile" "$(echo "$out" | awk '{print $2}')" 2
run_ctr --rm --security-opt seccomp=unconfined -- grep Seccomp: /proc/self/status
expect_eq "seccomp mode with --security-opt seccomp=unconfined" "$(echo "$out" | awk '{print $2}')" 0

# podman's default capabilities: CHOWN(0) DAC_OVERRIDE(1) FOWNER(3) FSETID(4)
# KILL(5) SETGID(6) SETUID(7) SETPCAP(8) NET_BIND_SERVICE(10) SYS_CHROOT(18)
# SETFCAP(31), in every set but the inheritable and ambient ones.
run_ctr --rm -- grep ^Cap /proc/self/status
caps=$(echo "$out" | awk '{printf "%s=%s ", $1, $2}')
expect_eq "capabilities with podman's defaults" "$caps" \
  "CapInh:=0000000000000000 CapPrm:=00000000800405fb CapEff:=00000000800405fb CapBnd:=00000000800405fb CapAmb:=0000000000000000 "
run_ctr --rm --cap-drop all -- grep CapEff: /proc/self/status
expect_eq "effective capabilities with --cap-drop all" "$(echo "$out" | awk '{print $2}')" 0000000000000000

# A detached container, exec into it, pause it, stop it, remove it.
run_ctr -d -- sh -c 'trap "exit 0" TERM; echo ready; while :; do sleep 1; done'
expect_eq "run -d: exit status" "$rc" 0
id=$cid
if [ -z "$id" ] || [ "$out" != "$id" ]; then fail "run -d printed '$out', cidfile has '$id'"; fi
expect_eq "run -d: podman's status" "$(pm inspect --format '{{.State.Status}}' "$id" 2>"$T/err")" running
[ -d "$RUNTIME_ROOT/$id" ] || fail "bulwark-run has no state for $id under $RUNTIME_ROOT"
expect_eq "run -d: bulwark-run's status" \
  "$("$RUNTIME" state "$id" | sed -n 's/^ *"status": "\(.*\)",*$/\1/p')" running

rc=0
out=$(pm exec "$id" sh -c 'echo from-exec; exit 4' 2>"$T/err") || rc=$?
expect_eq "exec: exit status" "$rc" 4
expect_eq "exec: output" "$out" from-exec
out=$(pm exec "$id" grep Seccomp: /proc/self/status 2>"$T/err") || fail "exec grep"
expect_eq "exec: seccomp mode" "$(echo "$out" | awk '{print $2}')" 2
# shellcheck disable=SC2016  # expanded by the container's shell
out=$(pm exec --user 1000:1000 "$id" sh -c 'echo $(id -u):$(id -g)' 2>"$T/err") || fail "exec --user"
expect_eq "exec --user 1000:1000" "$out" 1000:1000

# A detached exec outlives the `bulwark-run exec --detach` that started it.
pm exec -d "$id" sleep 300 >/dev/null 2>"$T/err" || fail "exec -d"
sleep 0.5
out=$(pm exec "$id" ps -o args 2>"$T/err") || fail "exec ps"
echo "$out" | grep -qx "sleep 300" || fail "the process of 'exec -d' is gone; ps shows: $out"
echo "ok: a detached exec keeps running"

if [ -n "$CG2" ]; then
  pm pause "$id" >/dev/null 2>"$T/err" || fail "pause"
  expect_eq "pause: podman's status" "$(pm inspect --format '{{.State.Status}}' "$id" 2>"$T/err")" paused
  pm unpause "$id" >/dev/null 2>"$T/err" || fail "unpause"
  expect_eq "unpause: podman's status" "$(pm inspect --format '{{.State.Status}}' "$id" 2>"$T/err")" running
fi

start=$(date +%s)
pm stop --time 20 "$id" >/dev/null 2>"$T/err" || fail "stop"
elapsed=$(($(date +%s) - start))
[ "$elapsed" -lt 15 ] || fail "stop took ${elapsed}s: SIGTERM did not reach the container's trap"
expect_eq "stop: the container ran its TERM trap (exit code)" \
  "$(pm inspect --format '{{.State.ExitCode}}' "$id" 2>"$T/err")" 0
expect_eq "stop: podman's status" "$(pm inspect --format '{{.State.Status}}' "$id" 2>"$T/err")" exited
pm rm "$id" >/dev/null 2>"$T/err" || fail "rm"

# ---- nothing left behind ----

expect_eq "podman ps -a after rm" "$(pm ps -a -q 2>"$T/err")" ""
# conmon's exit command (`podman container cleanup`) finishes asynchronously.
leftovers() {
  local id
  for id in "${IDS[@]}"; do
    [ -e "$RUNTIME_ROOT/$id" ] && echo "state directory $RUNTIME_ROOT/$id"
    [ -n "$CG2" ] && find "$CG2" -type d -name "*$id*" -printf 'cgroup %p\n' 2>/dev/null
  done
  for pid in $(our_pids); do echo "process $pid: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")"; done
  for m in $(our_mounts); do echo "mount $m"; done
}
for _ in $(seq 100); do
  left=$(leftovers)
  [ -z "$left" ] && break
  sleep 0.1
done
[ -z "$left" ] || fail "left behind after ${#IDS[@]} containers: $left"
echo "ok: no state directory, cgroup, process or mount left for ${#IDS[@]} containers"

echo PASS
