#!/bin/bash
# bulwark-update's agent on a sysroot directory (no boot): status, check,
# upgrade, rollback, upgrade again, metrics, and key rotation, against
# versions of a small OS published with bulwark-update's own verbs and served
# over HTTP by an nginx on loopback. See tests/update/lib.sh for the fixture.
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
DEPLOY=$SYS/ostree/deploy/$OS/deploy

# jq_expect WHAT JSON FILTER: the jq FILTER is true of JSON.
jq_expect() {
  printf '%s' "$2" | jq -e "$3" >/dev/null 2>&1 || fail "$1: jq '$3' is not true of: $2"
  ok "$1 ($3)"
}
# state_field SYSROOT FILTER: a field of state.json.
state_field() {
  local f
  f=$(state_json "$1")
  [ -s "$f" ] || fail "no state file at $f"
  jq -r "$2" "$f" || fail "state.json is not JSON: $(cat "$f")"
}
expect_default() {  # WHAT COMMIT
  expect_eq "$1: the default deployment (first BLS entry)" "$(default_commit "$SYS")" "$2"
}

# ---- the publisher's side: keys, v1, a served repository, a sysroot running v1 ----

step "publishing version 1"
make_keys main
make_repo "$REPO"
make_tree "$T/trees/1" 1
C1=$(commit_tree "$REPO" "$T/trees/1" 1)
publish "$REPO"
ok "commit v1 $C1"
start_nginx "$T/www"
write_config "$CONFIG" "$NGINX_URL/repo"
make_sysroot "$SYS" "$REPO"
expect_default "the new sysroot" "$C1"

step "bulwark-update verify, on the publisher's side"
mkdir -p "$T/keys/main.d" "$T/keys/empty.d"
cp "$T/keys/main.pub" "$T/keys/main.d/"
"$BU" verify --repo "$REPO" --keys "$T/keys/main.d" "$C1" >"$T/verify.out" 2>&1 ||
  fail "verify of v1 with the main key: $(cat "$T/verify.out")"
ok "verify accepts v1 with the key that signed it"
if "$BU" verify --repo "$REPO" --keys "$T/keys/empty.d" "$C1" >"$T/verify.out" 2>&1; then
  fail "verify accepts v1 with no trusted key: $(cat "$T/verify.out")"
fi
ok "verify refuses v1 without a trusted key: $(tail -n 1 "$T/verify.out")"

# ---- status ----

step "status on a fresh sysroot"
agent "$SYS" status
expect_agent_ok
expect_match "status (text) names the OS" "$out" "$OS"
expect_match "status (text) shows the deployed checksum" "$out" "${C1:0:10}"
expect_match "status (text) shows the state" "$out" "idle"
agent "$SYS" status --json
expect_agent_ok
jq_expect "status --json: the os" "$out" ".os == \"$OS\""
jq_expect "status --json: not booted from ostree" "$out" '.booted_from_ostree == false'
jq_expect "status --json: one deployment" "$out" '.deployments | length == 1'
jq_expect "status --json: its checksum" "$out" ".deployments[0].checksum == \"$C1\""
jq_expect "status --json: its version" "$out" '.deployments[0].version == "1"'
jq_expect "status --json: its sequence" "$out" '.deployments[0].sequence == 1'
jq_expect "status --json: its stateroot" "$out" ".deployments[0].stateroot == \"$OS\""
jq_expect "status --json: it is the default" "$out" '.deployments[0].index == 0 and .deployments[0].role == "default"'
jq_expect "status --json: the state" "$out" '.state == "idle"'

# ---- check ----

step "check with nothing newer published"
sysroot_fingerprint "$SYS" >"$T/fp"
agent "$SYS" check
expect_agent_ok
expect_match "check says there is no update" "$(agent_said)" "no update|up to date"
agent "$SYS" check --json
expect_agent_ok
jq_expect "check --json: nothing available" "$out" '.available == false'

step "check with version 2 published"
make_tree "$T/trees/2" 2
C2=$(commit_tree "$REPO" "$T/trees/2" 2)
publish "$REPO"
ok "commit v2 $C2"
agent "$SYS" check
expect_agent_ok
expect_match "check says an update is available" "$(agent_said)" "update available"
expect_match "check names the new version's checksum or version" "$(agent_said)" "${C2:0:10}|version:? *\"?2"
agent "$SYS" check --json
expect_agent_ok
jq_expect "check --json: available" "$out" '.available == true'
jq_expect "check --json: names the candidate commit" "$out" "[.. | strings] | index(\"$C2\") != null"
expect_untouched "check" "$T/fp" "$SYS"
expect_eq "state.json: last check available" "$(state_field "$SYS" '.last_check.available')" true
expect_eq "state.json: last check succeeded" "$(state_field "$SYS" '.last_check.ok')" true
now=$(date +%s)
check_time=$(state_field "$SYS" '.last_check.time')
if [ "$check_time" -gt "$now" ] || [ "$check_time" -le $((now - 120)) ]; then
  fail "state.json: last check time $check_time is not about now ($now)"
fi
ok "state.json: last check time is about now"

# ---- upgrade v1 -> v2 ----

step "upgrade to version 2, with a local change in v1's /etc"
echo "a local setting" >"$DEPLOY/$C1.0/etc/local.conf"
echo "Welcome to this appliance" >"$DEPLOY/$C1.0/etc/motd"
agent "$SYS" upgrade
expect_agent_ok
expect_default "after the upgrade" "$C2"
expect_eq "the BLS entries, in order" "$(deployed_commits "$SYS" | tr '\n' ' ')" "$C2 $C1 "
assert_consistent_sysroot "$SYS" "$C2"
ok "the default BLS entry boots a complete v2 deployment with its kernel"
dep2=$(bls_deployment "$SYS" "$(bls_entries "$SYS" | head -n 1)")
expect_eq "/etc carried over: a file added in v1" "$(cat "$dep2/etc/local.conf")" "a local setting"
expect_eq "/etc carried over: a file changed in v1" "$(cat "$dep2/etc/motd")" "Welcome to this appliance"
expect_eq "/etc of v2: a file the local admin did not change comes from v2" \
  "$(sed -n 's/^VERSION_ID=//p' "$dep2/etc/os-release")" 2
grep -q "refspec=" "$dep2.origin" || fail "v2's origin has no refspec: $(cat "$dep2.origin")"
ok "v2 has an origin: $(grep refspec= "$dep2.origin")"
expect_eq "state.json: state" "$(state_field "$SYS" '.state')" pending-reboot
expect_eq "state.json: the anti-rollback floor" "$(state_field "$SYS" '.highest_sequence')" 2
expect_eq "state.json: upgrades" "$(state_field "$SYS" '.upgrades_total')" 1
expect_eq "state.json: the deployment on trial" "$(state_field "$SYS" '.trial_checksum')" "$C2"
grep -aq "bulwark_boot_counter=3" "$SYS/boot/grub/grubenv" ||
  fail "grubenv has no bulwark_boot_counter=3: $(tr -d '#' <"$SYS/boot/grub/grubenv")"
grep -aq "bulwark_boot_success=0" "$SYS/boot/grub/grubenv" ||
  fail "grubenv has no bulwark_boot_success=0: $(tr -d '#' <"$SYS/boot/grub/grubenv")"
expect_eq "grubenv is still a 1024-byte block" "$(stat -c %s "$SYS/boot/grub/grubenv")" 1024
ok "grubenv: boot counter 3, success 0"

step "status after the upgrade: v2 boots next, v1 is the rollback"
agent "$SYS" status
expect_agent_ok
# On a sysroot that is not booted, the deployment that boots next is the
# "default" one (updater/README.md; "pending" is for a booted system).
expect_match "status (text): v2's line says it boots next" "$(printf '%s\n' "$out" | grep -F "$C2")" \
  "^ *default "
expect_match "status (text): v1's line says it is the rollback" "$(printf '%s\n' "$out" | grep -F "$C1")" \
  "^ *rollback "
expect_match "status (text) shows the state" "$out" "pending-reboot"
agent "$SYS" status --json
expect_agent_ok
jq_expect "status --json: two deployments" "$out" '.deployments | length == 2'
jq_expect "status --json: v2 first, boots next" "$out" \
  ".deployments[0].checksum == \"$C2\" and .deployments[0].role == \"default\""
jq_expect "status --json: v1 second, rollback" "$out" \
  ".deployments[1].checksum == \"$C1\" and .deployments[1].role == \"rollback\""
jq_expect "status --json: the state" "$out" '.state == "pending-reboot"'

step "upgrade when already up to date"
sysroot_fingerprint "$SYS" >"$T/fp"
agent "$SYS" upgrade
expect_agent_ok
expect_match "upgrade says there is nothing to do" "$(agent_said)" "no update|up to date|already"
expect_untouched "upgrade with nothing new" "$T/fp" "$SYS"

# ---- rollback ----

step "rollback"
agent "$SYS" rollback
expect_agent_ok
expect_default "after the rollback" "$C1"
expect_eq "the BLS entries, in order" "$(deployed_commits "$SYS" | tr '\n' ' ')" "$C1 $C2 "
assert_consistent_sysroot "$SYS" "$C1"
expect_eq "state.json: rollbacks" "$(state_field "$SYS" '.rollbacks_total')" 1
expect_eq "state.json: state" "$(state_field "$SYS" '.state')" rolled-back
# Left armed, GRUB would count down on v1 and fall back to v2 (updater/BOOT-COUNTING.md).
if grep -aq "bulwark_boot_counter=" "$SYS/boot/grub/grubenv"; then
  fail "the rollback left the boot counter armed: $(tr -d '#' <"$SYS/boot/grub/grubenv")"
fi
ok "grubenv: the rollback removed the boot counter"
agent "$SYS" status --json
expect_agent_ok
jq_expect "status --json: v1 is the default again" "$out" ".deployments[0].checksum == \"$C1\""

# ---- upgrade again ----

step "upgrade again, to version 3"
make_tree "$T/trees/3" 3
C3=$(commit_tree "$REPO" "$T/trees/3" 3)
publish "$REPO"
ok "commit v3 $C3"
agent "$SYS" upgrade
expect_agent_ok
expect_default "after the second upgrade" "$C3"
expect_eq "the rollback deployment is the one the upgrade started from" \
  "$(deployed_commits "$SYS" | sed -n 2p)" "$C1"
assert_consistent_sysroot "$SYS" "$C3"
dep3=$(bls_deployment "$SYS" "$(bls_entries "$SYS" | head -n 1)")
expect_eq "/etc carried over from v1 to v3" "$(cat "$dep3/etc/local.conf")" "a local setting"
expect_eq "state.json: the anti-rollback floor" "$(state_field "$SYS" '.highest_sequence')" 3
expect_eq "state.json: upgrades" "$(state_field "$SYS" '.upgrades_total')" 2

step "without --config: the configuration of the deployment that boots next"
mkdir -p "$dep3/etc/bulwark"
cp "$CONFIG" "$dep3/etc/bulwark/update.toml"
LAST_CMD="bulwark-update --sysroot $SYS check"
rc=0
"$BU" --sysroot "$SYS" check >"$T/agent.out" 2>"$T/agent.err" || rc=$?
out=$(cat "$T/agent.out")
err=$(cat "$T/agent.err")
expect_agent_ok
expect_match "check with v3's /etc/bulwark/update.toml" "$(agent_said)" "no update|up to date"
rm "$dep3/etc/bulwark/update.toml"
rc=0
"$BU" --sysroot "$SYS" check >"$T/agent.out" 2>"$T/agent.err" || rc=$?
[ "$rc" != 0 ] || fail "check without any configuration succeeded: $(cat "$T/agent.out")"
expect_match "check without a configuration names the file it looked for" "$(cat "$T/agent.err")" \
  "$dep3/etc/bulwark/update.toml"

# ---- metrics ----

step "metrics"
agent "$SYS" metrics
expect_agent_ok
metrics=$out
expect_match "metrics: the booted sequence (README's rotation advice reads it)" "$metrics" \
  "^bulwark_update_booted_sequence(\{[^}]*\})? [0-9]+"
printf '%s\n' "$metrics" | grep -q '^# TYPE ' || fail "metrics have no # TYPE lines: $metrics"
if command -v promtool >/dev/null; then
  printf '%s\n' "$metrics" | promtool check metrics >"$T/promtool.out" 2>&1 ||
    fail "promtool check metrics: $(cat "$T/promtool.out")"
  ok "promtool check metrics accepts the output"
else
  echo "note: promtool is not installed; the metrics' format is not validated"
fi
mkdir -p "$T/textfile"
agent "$SYS" metrics --output "$T/textfile/bulwark-update.prom"
expect_agent_ok
[ -s "$T/textfile/bulwark-update.prom" ] || fail "metrics --output wrote nothing"
expect_eq "files in the textfile directory (no temporary left)" "$(ls "$T/textfile")" bulwark-update.prom
grep -Eq '^bulwark_update_booted_sequence' "$T/textfile/bulwark-update.prom" ||
  fail "the textfile lacks bulwark_update_booted_sequence: $(cat "$T/textfile/bulwark-update.prom")"
ok "metrics --output writes the same metrics to a file"

# ---- key rotation ----
# The appliance runs v3 (it trusts main). Rotation from main to b, as the README
# says: sign with both, ship b, then revoke main and sign with b only.

step "key rotation 1: v4, signed with main and b, ships b"
make_keys b
# The summary is signed with both keys from now on, as the commits are.
PUBLISH_KEYS="main b"
make_tree "$T/trees/4" 4
cp "$T/keys/b.pub" "$T/trees/4/usr/lib/bulwark/update/trusted.d/b.pub"
C4=$(commit_tree "$REPO" "$T/trees/4" 4 --key "$T/keys/main.sec" --key "$T/keys/b.sec")
publish "$REPO"
mkdir -p "$T/keys/b.d"
cp "$T/keys/b.pub" "$T/keys/b.d/"
"$BU" verify --repo "$REPO" --keys "$T/keys/b.d" "$C4" >"$T/verify.out" 2>&1 ||
  fail "verify of v4 with b alone: $(cat "$T/verify.out")"
"$BU" verify --repo "$REPO" --keys "$T/keys/main.d" "$C4" >"$T/verify.out" 2>&1 ||
  fail "verify of v4 with main alone: $(cat "$T/verify.out")"
ok "v4 carries a valid signature by each key"
agent "$SYS" upgrade
expect_agent_ok
expect_default "after upgrading to v4" "$C4"

step "key rotation 2: a commit signed by b only, before any appliance trusts b"
SYS_OLD=$T/sysroot-old
make_sysroot "$SYS_OLD" "$REPO" "$C1"
make_tree "$T/trees/5" 5
cp "$T/keys/b.pub" "$T/trees/5/usr/lib/bulwark/update/trusted.d/b.pub"
mkdir -p "$T/trees/5/usr/lib/bulwark/update/revoked.d"
cp "$T/keys/main.pub" "$T/trees/5/usr/lib/bulwark/update/revoked.d/main.pub"
C5=$(commit_tree "$REPO" "$T/trees/5" 5 --key "$T/keys/b.sec")
publish "$REPO"
sysroot_fingerprint "$SYS_OLD" >"$T/fp"
agent "$SYS_OLD" upgrade
[ "$rc" != 0 ] || fail "an appliance that trusts main only took v5, signed by b only"
expect_match "the refusal names v5 and the trust problem" "$(agent_said)" "${C5:0:12}.*(trusted|signature)"
expect_untouched "v5 refused by a v1 appliance" "$T/fp" "$SYS_OLD"
remove_sysroot "$SYS_OLD"

step "key rotation 3: v5, signed by b only, revokes main; the v4 appliance takes it"
agent "$SYS" upgrade
expect_agent_ok
expect_default "after upgrading to v5" "$C5"

step "key rotation 4: v6 signed by the revoked key main (also still in trusted.d) is refused"
make_tree "$T/trees/6" 6
cp "$T/keys/b.pub" "$T/trees/6/usr/lib/bulwark/update/trusted.d/b.pub"
C6=$(commit_tree "$REPO" "$T/trees/6" 6 --key "$T/keys/main.sec")
publish "$REPO"
sysroot_fingerprint "$SYS" >"$T/fp"
agent "$SYS" upgrade
[ "$rc" != 0 ] || fail "upgrade took v6, signed only by the revoked key"
expect_match "the refusal names v6 and says its key is revoked" "$(agent_said)" "${C6:0:12}.*revoked"
expect_untouched "v6 refused" "$T/fp" "$SYS"

step "key rotation 5: v7 signed by main and b: b's signature is enough, main's is ignored"
make_tree "$T/trees/7" 7
cp "$T/keys/b.pub" "$T/trees/7/usr/lib/bulwark/update/trusted.d/b.pub"
C7=$(commit_tree "$REPO" "$T/trees/7" 7 --key "$T/keys/main.sec" --key "$T/keys/b.sec")
publish "$REPO"
agent "$SYS" upgrade
expect_agent_ok
expect_default "after upgrading to v7" "$C7"

step "key rotation 6: a key the local admin trusts in /etc/bulwark/update/trusted.d"
make_keys local
dep7=$(bls_deployment "$SYS" "$(bls_entries "$SYS" | head -n 1)")
mkdir -p "$dep7/etc/bulwark/update/trusted.d"
cp "$T/keys/local.pub" "$dep7/etc/bulwark/update/trusted.d/local.pub"
make_tree "$T/trees/8" 8
cp "$T/keys/b.pub" "$T/trees/8/usr/lib/bulwark/update/trusted.d/b.pub"
C8=$(commit_tree "$REPO" "$T/trees/8" 8 --key "$T/keys/local.sec")
publish "$REPO"
agent "$SYS" upgrade
expect_agent_ok
expect_default "after upgrading to v8 (signed by the key trusted in /etc)" "$C8"

step "key rotation 7: the same key revoked in /etc/bulwark/update/revoked.d"
dep8=$(bls_deployment "$SYS" "$(bls_entries "$SYS" | head -n 1)")
[ -s "$dep8/etc/bulwark/update/trusted.d/local.pub" ] || fail "/etc/bulwark/update/trusted.d was not carried to v8"
mkdir -p "$dep8/etc/bulwark/update/revoked.d"
cp "$T/keys/local.pub" "$dep8/etc/bulwark/update/revoked.d/local.pub"
make_tree "$T/trees/9" 9
C9=$(commit_tree "$REPO" "$T/trees/9" 9 --key "$T/keys/local.sec")
publish "$REPO"
sysroot_fingerprint "$SYS" >"$T/fp"
agent "$SYS" upgrade
[ "$rc" != 0 ] || fail "upgrade took v9, signed only by a key revoked in /etc"
expect_match "the refusal names v9 and says its key is revoked" "$(agent_said)" "${C9:0:12}.*revoked"
expect_untouched "v9 refused" "$T/fp" "$SYS"

echo PASS
