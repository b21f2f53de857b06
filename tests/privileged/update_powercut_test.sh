#!/bin/bash
# bulwark-update killed (SIGKILL) at many points of an upgrade: during the
# pull, during the deploy, just after the boot entries changed. After each
# kill the sysroot must still boot into a consistent deployment, old or new:
# `ostree fsck` is clean, `ostree admin status` reads it, the first BLS entry's
# ostree= path resolves to a complete deployment of v1 or v2 whose kernel and
# initramfs are in /boot, state.json (if any) is whole JSON; and the next
# `bulwark-update upgrade` completes to v2. See tests/update/lib.sh.
#
# A SIGKILL is not a power cut (the page cache survives it), but it stops the
# agent between any two of its writes, which is what the ordering of those
# writes must survive.
#
# Exit status: 0 pass, 1 fail, 77 skipped (not root, nginx/ostree/... missing,
# bulwark-update not built).
set -eu
set -o pipefail

# shellcheck source-path=SCRIPTDIR source=../update/lib.sh
source "$(dirname "$(readlink -f "$0")")/../update/lib.sh"
update_test_init

REPO=$T/www/repo
SYS=$T/sysroot
SPREAD_POINTS=12
# The upgrade it measures is made to last at least MIN_UPGRADE_MS by the size
# of v2, so that the kills land in the pull and in the deploy. The test must
# stay within a few minutes on a busy machine too: no new kill starts after
# BUDGET_S seconds, and at least MIN_KILLS must have been made by then.
MIN_UPGRADE_MS=2000
MAX_UPGRADE_MS=8000
BUDGET_S=300
MIN_KILLS=10
test_start=$(date +%s)

now_ms() { echo $(($(date +%s%N) / 1000000)); }

step "publishing v1 (small) and v2 (many files of random data)"
make_keys main
make_repo "$REPO"
make_tree "$T/trees/1" 1
C1=$(commit_tree "$REPO" "$T/trees/1" 1)
publish "$REPO"
start_nginx "$T/www"
write_config "$CONFIG" "$NGINX_URL/repo"

# publish_v2 FILES: (re)publishes v2 with FILES payload files of 16 KiB.
v2_files=0
publish_v2() {
  v2_files=$1
  make_tree "$T/trees/2" 2 "$v2_files" 16
  C2=$(commit_tree "$REPO" "$T/trees/2" 2)
  publish "$REPO"
}

# Full upgrades of a fresh v1 sysroot; sets upgrade_ms to the shorter of two
# (the first one after publishing runs with cold caches).
measure_upgrade() {
  local t0 ms
  upgrade_ms=""
  for _ in 1 2; do
    remove_sysroot "$SYS"
    make_sysroot "$SYS" "$REPO" "$C1"
    t0=$(now_ms)
    agent "$SYS" upgrade
    ms=$(($(now_ms) - t0))
    expect_agent_ok
    expect_eq "default deployment after an uninterrupted upgrade" "$(default_commit "$SYS")" "$C2"
    if [ -z "$upgrade_ms" ] || [ "$ms" -lt "$upgrade_ms" ]; then upgrade_ms=$ms; fi
  done
}

step "measuring one upgrade"
publish_v2 300
measure_upgrade
for _ in 1 2 3; do
  [ "$upgrade_ms" -lt "$MIN_UPGRADE_MS" ] || break
  echo "an upgrade with $v2_files files took ${upgrade_ms} ms: more files"
  files=$((v2_files * MIN_UPGRADE_MS * 5 / 4 / (upgrade_ms + 1)))
  [ "$files" -gt $((v2_files + 100)) ] || files=$((v2_files + 100))
  [ "$files" -le 4000 ] || files=4000
  publish_v2 "$files"
  measure_upgrade
done
[ "$upgrade_ms" -le "$MAX_UPGRADE_MS" ] || fail "one upgrade took ${upgrade_ms} ms; the test would take too long"
ok "one upgrade (pull + deploy of $v2_files files, $(du -sh "$T/trees/2" | cut -f1)) takes ${upgrade_ms} ms"
assert_consistent_sysroot "$SYS" "$C2"

# ---- the kills ----

n_kills=0
n_old=0
n_new=0
n_finished=0

# start_agent: a fresh v1 sysroot, and an upgrade running in the background ($agent_pid).
start_agent() {
  remove_sysroot "$SYS"
  make_sysroot "$SYS" "$REPO" "$C1"
  LOADER_BEFORE=$(readlink "$SYS/boot/loader")
  LOG_MARK=$(wc -l <"$T/nginx/access.log")
  LAST_CMD="bulwark-update --sysroot $SYS --config $CONFIG upgrade (killed)"
  "$BU" --sysroot "$SYS" --config "$CONFIG" upgrade >"$T/agent.out" 2>"$T/agent.err" &
  agent_pid=$!
  agent_t0=$(now_ms)
}

# wait_for DESCRIPTION COMMAND...: polls COMMAND until it succeeds or the agent ends.
wait_for() {
  local what=$1
  shift
  while ! "$@"; do
    if ! kill -0 "$agent_pid" 2>/dev/null; then
      echo "  (the upgrade ended before $what)"
      return 1
    fi
    sleep 0.005
  done
}

state_is() { grep -q "\"state\": *\"$1\"" "$(state_json "$SYS")" 2>/dev/null; }
objects_fetched_at_least() {
  [ "$(tail -n +$((LOG_MARK + 1)) "$T/nginx/access.log" | grep -c '\.filez HTTP')" -ge "$1" ]
}
boot_entries_changed() {
  [ "$(readlink "$SYS/boot/loader")" != "$LOADER_BEFORE" ]
}

# kill_and_check LABEL: SIGKILLs the agent now, then asserts the sysroot is
# consistent and that the next upgrade completes.
kill_and_check() {
  local label=$1 when st finished=0
  if kill -KILL "$agent_pid" 2>/dev/null; then :; else finished=1; fi
  when=$(($(now_ms) - agent_t0))
  wait "$agent_pid" 2>/dev/null || true
  n_kills=$((n_kills + 1))
  assert_consistent_sysroot "$SYS" "$C1" "$C2"
  st=$(state_json "$SYS")
  if [ -e "$st" ]; then
    jq -e .state "$st" >/dev/null 2>&1 || fail "[$label] state.json is not whole after the kill: $(cat "$st")"
  fi
  local which=v1
  if [ "$CONSISTENT_COMMIT" = "$C2" ]; then which=v2; n_new=$((n_new + 1)); else n_old=$((n_old + 1)); fi
  if [ "$finished" = 1 ]; then
    n_finished=$((n_finished + 1))
    ok "[$label] the upgrade had finished by ${when} ms; the sysroot boots $which"
  else
    ok "[$label] killed at ${when} ms ($(jq -r .state "$st" 2>/dev/null || echo "no state.json")): the sysroot boots $which, fsck clean"
  fi
  agent "$SYS" upgrade
  [ "$rc" = 0 ] || fail "[$label] the upgrade after the kill failed"
  expect_eq "[$label] the default deployment after the next upgrade" "$(default_commit "$SYS")" "$C2"
  FSCK=0 assert_consistent_sysroot "$SYS" "$C2"
  # Deployment directories no BLS entry boots are left-overs of the killed deploy.
  local listed on_disk
  listed=$(for e in $(bls_entries "$SYS"); do basename "$(bls_deployment "$SYS" "$e")"; done | sort)
  on_disk=$(find "$SYS/ostree/deploy/$OS/deploy" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
  [ "$listed" = "$on_disk" ] ||
    fail "[$label] deployment directories no boot entry uses are left: $(comm -13 <(echo "$listed") <(echo "$on_disk"))"
}

over_budget() { [ $(($(date +%s) - test_start)) -gt "$BUDGET_S" ]; }

step "targeted kills"
start_agent
{ wait_for "the pull started" state_is downloading && wait_for "an object arrived" objects_fetched_at_least 1; } || true
kill_and_check "the first objects of the pull"

start_agent
wait_for "half of the pull" objects_fetched_at_least $((v2_files / 2)) || true
kill_and_check "half of the pull"

start_agent
wait_for "the deploy" state_is deploying || true
kill_and_check "the deploy started"

for ms in 50 100 200; do
  start_agent
  { wait_for "the deploy" state_is deploying && sleep "0.$(printf '%03d' "$ms")"; } || true
  kill_and_check "$ms ms into the deploy"
done

start_agent
wait_for "the new boot entries" boot_entries_changed || true
kill_and_check "just after the boot entries were swapped"

start_agent
wait_for "pending-reboot" state_is pending-reboot || true
kill_and_check "pending-reboot written"

step "kills spread over [0, 1.2 x ${upgrade_ms} ms]"
for ((i = 0; i < SPREAD_POINTS; i++)); do
  if over_budget; then
    echo "note: the time budget (${BUDGET_S} s) is spent: $((SPREAD_POINTS - i)) spread kill points skipped"
    break
  fi
  delay_ms=$((i * upgrade_ms * 12 / 10 / (SPREAD_POINTS - 1)))
  start_agent
  sleep "$(awk -v ms="$delay_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
  kill_and_check "at ${delay_ms} ms"
done

echo
ok "$n_kills kills: $n_old left v1 the default, $n_new left v2 the default ($n_finished after the upgrade had finished)"
[ "$n_kills" -ge "$MIN_KILLS" ] || fail "only $n_kills kills within the time budget (want $MIN_KILLS)"
[ "$n_old" -ge 3 ] || fail "only $n_old kills hit before the new deployment was in place: the kill points miss the upgrade"
echo PASS
