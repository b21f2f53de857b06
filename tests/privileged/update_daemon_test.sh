#!/bin/bash
# bulwark-update's daemon as a service of the real bulwark-init (supervisor
# mode), from the service definition the updater ships: it checks at once
# (jitter 0), upgrades by policy, keeps a Prometheus textfile current, checks
# again after its interval and takes the next version, and stops cleanly when
# bulwark-init shuts down.
#
# Exit status: 0 pass, 1 fail, 77 skipped.
set -eu
set -o pipefail

# shellcheck source-path=SCRIPTDIR source=../update/lib.sh
source "$(dirname "$(readlink -f "$0")")/../update/lib.sh"
update_test_init
INIT=$BULWARK_BUILD_DIR/init/bulwark-init
[ -x "$INIT" ] || skip "$INIT is not built"

REPO=$T/www/repo
SYS=$T/sysroot
INIT_PID=""
stop_init() {
  [ -n "$INIT_PID" ] || return 0
  kill -TERM "$INIT_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do
    kill -0 "$INIT_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$INIT_PID" 2>/dev/null || true
  wait "$INIT_PID" 2>/dev/null || true
  INIT_PID=""
}
trap 'stop_init; update_test_cleanup' EXIT

wait_for() {  # WHAT SECONDS COMMAND...
  local what=$1 secs=$2 i
  shift 2
  for i in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then ok "$what"; return 0; fi
    sleep 0.2
  done
  fail "$what: not within $secs s; the daemon's log: $(tail -n 20 "$T/log/bulwark-update.log" 2>/dev/null)"
}

step "publishing version 1 and a sysroot running it"
make_keys main
make_repo "$REPO"
make_tree "$T/trees/1" 1
C1=$(commit_tree "$REPO" "$T/trees/1" 1)
publish "$REPO"
start_nginx "$T/www"
make_sysroot "$SYS" "$REPO"
cat >"$CONFIG" <<EOF
[remote]
url = "$NGINX_URL/repo"
ref = "$REF"
os = "$OS"

[policy]
auto_upgrade = true
auto_reboot = false
check_interval_s = 10
jitter_s = 0

[status]
metrics_textfile = "/run/metrics/bulwark_update.prom"
EOF

mkdir -p "$SYS/run/metrics"
PROM=$SYS/run/metrics/bulwark_update.prom

step "version 2 published; bulwark-init starts the agent from updater/services/bulwark-update.toml"
make_tree "$T/trees/2" 2
C2=$(commit_tree "$REPO" "$T/trees/2" 2)
publish "$REPO"
mkdir -p "$T/init" "$T/state" "$T/log"
# The shipped definition, with the agent pointed at the test's sysroot.
sed -e "s|^exec = .*|exec = [\"$BU\", \"--sysroot\", \"$SYS\", \"--config\", \"$CONFIG\", \"daemon\"]|" \
  "$BULWARK_SOURCE_DIR/updater/services/bulwark-update.toml" >"$T/init/bulwark-update.toml"
grep -q -- "--sysroot" "$T/init/bulwark-update.toml" || fail "could not rewrite the service's exec line"
"$INIT" --supervisor --config-dir "$T/init" --socket "$T/ctl.sock" --state-dir "$T/state" \
  --log-dir "$T/log" >"$T/init.out" 2>&1 &
INIT_PID=$!

default_is() { [ "$(default_commit "$SYS")" = "$1" ]; }
wait_for "the daemon deployed version 2 on its first check" 30 default_is "$C2"
wait_for "the metrics textfile says pending-reboot" 10 grep -q 'bulwark_update_state{state="pending-reboot"} 1' "$PROM"
grep -q "bulwark_update_upgrades_total 1" "$PROM" || fail "upgrades_total is not 1 in: $(cat "$PROM")"
ok "upgrades_total 1 in the textfile"
if command -v promtool >/dev/null; then
  promtool check metrics <"$PROM" >"$T/promtool.out" 2>&1 || fail "promtool check metrics: $(cat "$T/promtool.out")"
  [ ! -s "$T/promtool.out" ] || fail "promtool check metrics found problems: $(cat "$T/promtool.out")"
  ok "promtool check metrics accepts the textfile"
fi
expect_match "the transitions are logged" "$(cat "$T/log/bulwark-update.log")" "state: downloading -> deploying"

step "version 3 published: the next periodic check takes it"
make_tree "$T/trees/3" 3
C3=$(commit_tree "$REPO" "$T/trees/3" 3)
publish "$REPO"
wait_for "the daemon deployed version 3 after its interval" 30 default_is "$C3"
wait_for "the textfile counts two upgrades" 10 grep -q "bulwark_update_upgrades_total 2" "$PROM"

step "bulwark-init shuts down: the daemon stops on SIGTERM"
daemon_pid=$(pgrep -P "$INIT_PID" -f "bulwark-update.*daemon" || true)
[ -n "$daemon_pid" ] || fail "no daemon process under bulwark-init $INIT_PID"
start=$(date +%s%N)
stop_init
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
if kill -0 "$daemon_pid" 2>/dev/null; then fail "the daemon (pid $daemon_pid) outlived bulwark-init"; fi
[ "$elapsed_ms" -lt 5000 ] || fail "shutdown took $elapsed_ms ms (the daemon should stop at once on SIGTERM)"
expect_match "the daemon said it stops" "$(cat "$T/log/bulwark-update.log")" "stopping"
ok "stopped in $elapsed_ms ms"
echo "PASS"
