#!/bin/bash
# bulwark-update refuses bad updates before deploying anything: an unsigned
# commit, a signature by an untrusted key, a signature that belongs to another
# commit, a truncated or corrupted object on the server, an older commit served
# again, a commit of another OS, a server that stops answering mid-pull, and a
# full disk. Each case starts from the same appliance (v1 deployed, v2 pending
# after an upgrade by the agent) and the same served repository, and asserts
# the agent's message, its recorded state, and that the deployments, BLS
# entries and origins are exactly as they were. See tests/update/lib.sh.
#
# Exit status: 0 pass, 1 fail, 77 skipped (not root, nginx/ostree/... missing,
# bulwark-update not built).
set -eu
set -o pipefail

SELF=$(readlink -f "$0")
# shellcheck source-path=SCRIPTDIR source=../update/lib.sh
source "$(dirname "$SELF")/../update/lib.sh"

# ---- the common starting point ----

# base: keys, a repository with v1 and v2, a sysroot with v1 deployed and v2
# pending (upgraded by the agent). Kept as copies that each case starts from.
make_base() {
  step "the starting point: v1 deployed, v2 pending"
  make_keys main
  make_keys other
  REPO=$T/www/repo
  SYS=$T/sysroot
  make_repo "$REPO"
  make_tree "$T/trees/1" 1
  C1=$(commit_tree "$REPO" "$T/trees/1" 1)
  publish "$REPO"
  make_tree "$T/trees/2" 2
  make_sysroot "$SYS" "$REPO" "$C1"
  C2=$(commit_tree "$REPO" "$T/trees/2" 2)
  publish "$REPO"
  # /slow/ serves the same files at 64 KiB/s per connection: a pull from it
  # lasts long enough to stop the server in the middle.
  start_nginx "$T/www" "location /slow/ { alias $T/www/; limit_rate 64k; }"
  write_config "$CONFIG" "$NGINX_URL/repo"
  agent "$SYS" upgrade
  expect_agent_ok
  expect_eq "deployments of the starting point" "$(deployed_commits "$SYS" | tr '\n' ' ')" "$C2 $C1 "
  cp -a "$REPO" "$T/base-repo"
  cp -a "$SYS" "$T/base-sysroot"
  echo "v1 $C1"
  echo "v2 $C2"
}

# fresh NAME: the starting point again; records the sysroot's fingerprint.
fresh() {
  echo
  step "case: $1"
  rm -rf "$REPO"
  cp -a "$T/base-repo" "$REPO"
  publish "$REPO"  # a summary newer than any the appliance has cached
  remove_sysroot "$SYS"
  cp -a "$T/base-sysroot" "$SYS"
  write_config "$CONFIG" "$NGINX_URL/repo"
  sysroot_fingerprint "$SYS" >"$T/fp"
}

# expect_refused WHAT REGEX: the last agent run failed, said why (REGEX), left
# the deployments alone, and recorded the failure in state.json.
expect_refused() {
  local what=$1 regex=$2 st
  [ "$rc" != 0 ] || fail "$what: $LAST_CMD succeeded (exit status 0)"
  [ "$rc" = 1 ] || fail "$what: exit status $rc, want 1 (an error)"
  ok "$what: refused with exit status 1"
  echo "  the agent said: $(printf '%s\n' "$err" | grep -v ': info: ' | tail -n 1)"
  expect_match "$what: the message" "$(agent_said)" "$regex"
  expect_untouched "$what" "$T/fp" "$SYS"
  st=$(state_json "$SYS")
  expect_eq "$what: state.json's state" "$(jq -r .state "$st")" failed
  expect_match "$what: state.json's error" "$(jq -r .error "$st")" "$regex"
}

# expect_check_refuses WHAT REGEX: `check` does not offer the commit, and says why.
expect_check_refuses() {
  agent "$SYS" check --json
  if [ "$rc" = 0 ] && printf '%s' "$out" | jq -e '.available == true' >/dev/null 2>&1; then
    fail "$1: check --json offers it as an update: $out"
  fi
  ok "$1: check --json does not offer it"
  agent "$SYS" check
  expect_match "$1: check's message" "$(agent_said)" "$2"
  expect_untouched "$1 (check)" "$T/fp" "$SYS"
}

# ---- the cases ----

SIGNATURE_MISSING="not signed|unsigned|no signature"
case_unsigned() {
  fresh "an unsigned commit"
  make_tree "$T/trees/3" 3
  C3=$(commit_tree "$REPO" "$T/trees/3" 3 --unsigned)
  publish "$REPO"
  expect_check_refuses "unsigned v3" "$SIGNATURE_MISSING"
  agent "$SYS" upgrade
  expect_refused "unsigned v3" "$SIGNATURE_MISSING"
}

case_untrusted_key() {
  fresh "a commit signed by an untrusted key"
  make_tree "$T/trees/3" 3
  C3=$(commit_tree "$REPO" "$T/trees/3" 3 --key "$T/keys/other.sec")
  publish "$REPO"
  expect_check_refuses "v3 signed by another key" "trusted"
  agent "$SYS" upgrade
  expect_refused "v3 signed by another key" "trusted"
}

case_summary_signed_by_untrusted_key() {
  fresh "a repository summary signed by an untrusted key"
  make_tree "$T/trees/3" 3
  C3=$(commit_tree "$REPO" "$T/trees/3" 3)
  PUBLISH_KEYS=other publish "$REPO"
  expect_check_refuses "a summary signed by another key" "summary.*trusted"
  agent "$SYS" upgrade
  expect_refused "a summary signed by another key" "summary.*trusted"
}

SIGNATURE_BAD="signature.*(invalid|not valid|match|bad|fail|verif)|(invalid|bad|verif).*signature"
case_signature_of_another_commit() {
  fresh "the signature of commit v2 copied onto commit v3"
  make_tree "$T/trees/3" 3
  C3=$(commit_tree "$REPO" "$T/trees/3" 3 --unsigned)
  publish "$REPO"
  local from to
  from=$(object_path "$REPO" "$C2" commitmeta)
  to=$(object_path "$REPO" "$C3" commitmeta)
  [ -s "$from" ] || fail "v2 has no detached metadata at $from"
  [ ! -e "$to" ] || fail "the unsigned v3 already has detached metadata"
  cp "$from" "$to"
  ok "v3's detached metadata is v2's signature by the trusted key"
  expect_check_refuses "v3 with v2's signature" "$SIGNATURE_BAD"
  agent "$SYS" upgrade
  expect_refused "v3 with v2's signature" "$SIGNATURE_BAD"
}

# A commit whose usr/share/payload/blob0 is unique to it; sets C3 and BLOB (its object file).
publish_v3_with_blob() {
  make_tree "$T/trees/3" 3 4 64
  C3=$(commit_tree "$REPO" "$T/trees/3" 3)
  publish "$REPO"
  BLOB=$(object_path "$REPO" "$(content_checksum "$REPO" "$C3" /usr/share/payload/blob0)" filez)
  [ -s "$BLOB" ] || fail "no object file $BLOB for blob0"
  cp "$BLOB" "$T/blob.good"
}

CORRUPT="corrupt|checksum|truncat|too short|decompress|invalid"
case_truncated_object() {
  fresh "a truncated object on the server"
  publish_v3_with_blob
  truncate -s $(($(stat -c %s "$BLOB") / 2)) "$BLOB"
  ok "truncated $BLOB to half its size"
  agent "$SYS" upgrade
  expect_refused "v3 with a truncated object" "$CORRUPT"
  step "the server repaired: the upgrade goes through"
  cp "$T/blob.good" "$BLOB"
  agent "$SYS" upgrade
  expect_agent_ok
  expect_eq "the default deployment once the object is whole" "$(default_commit "$SYS")" "$C3"
  assert_consistent_sysroot "$SYS" "$C3"
}

case_corrupted_object() {
  fresh "a corrupted object on the server (bytes flipped, size kept)"
  publish_v3_with_blob
  local size
  size=$(stat -c %s "$BLOB")
  # Flip 16 bytes in the middle of the compressed stream.
  head -c 16 /dev/urandom | dd of="$BLOB" bs=1 seek=$((size / 2)) count=16 conv=notrunc status=none
  cmp -s "$BLOB" "$T/blob.good" && fail "the object did not change"
  expect_eq "the corrupted object's size" "$(stat -c %s "$BLOB")" "$size"
  agent "$SYS" upgrade
  expect_refused "v3 with a corrupted object" "$CORRUPT"
}

# Every message describes commits as "V (sequence N, commit C)": the reason must be more than that.
DOWNGRADE="older|downgrade|anti-rollback|not above|not newer|not greater|lower than"
case_older_commit() {
  fresh "the served ref points back to v1 (sequence 1)"
  set_served_ref "$REPO" "$C1"
  expect_eq "the served ref" "$(ostree --repo="$REPO" rev-parse "$REF")" "$C1"
  expect_check_refuses "v1 served again" "$DOWNGRADE"
  agent "$SYS" upgrade
  expect_refused "v1 served again" "$DOWNGRADE"
}

case_older_commit_not_deployed() {
  fresh "the served ref points back to v1 (sequence 1), no longer deployed here"
  ostree admin undeploy --sysroot "$SYS" 1 >"$T/undeploy.log" 2>&1 || fail "undeploying v1: $(cat "$T/undeploy.log")"
  expect_eq "deployments once v1 is gone" "$(deployed_commits "$SYS" | tr '\n' ' ')" "$C2 "
  sysroot_fingerprint "$SYS" >"$T/fp"
  set_served_ref "$REPO" "$C1"
  expect_check_refuses "v1 served again" "$DOWNGRADE"
  agent "$SYS" upgrade
  expect_refused "v1 served again" "$DOWNGRADE"
}

case_sequence_not_above_floor() {
  fresh "a new, validly signed commit whose sequence is the highest deployed (2)"
  make_tree "$T/trees/3" 3
  # Committed on another branch, where sequence 2 is allowed, then served on $REF.
  C3=$(COMMIT_BRANCH=bulwark/x86_64/side commit_tree "$REPO" "$T/trees/3" 3 --sequence 2)
  set_served_ref "$REPO" "$C3"
  expect_check_refuses "v3 with sequence 2" "$DOWNGRADE"
  agent "$SYS" upgrade
  expect_refused "v3 with sequence 2" "$DOWNGRADE"
}

case_current_served_again() {
  fresh "the pending commit (v2) served again after v3 was published and withdrawn"
  make_tree "$T/trees/3" 3
  C3=$(commit_tree "$REPO" "$T/trees/3" 3)
  publish "$REPO"
  set_served_ref "$REPO" "$C2"
  agent "$SYS" check --json
  expect_agent_ok
  printf '%s' "$out" | jq -e '.available == false' >/dev/null || fail "check offers v2 again: $out"
  ok "check: v2 is not offered again"
  agent "$SYS" upgrade
  expect_agent_ok
  expect_match "upgrade says v2 is already there" "$(agent_said)" "no update|up to date|already"
  expect_untouched "v2 served again" "$T/fp" "$SYS"
}

case_other_os() {
  fresh "a commit of another OS on the ref"
  make_tree "$T/trees/3" 3
  C3=$(commit_tree "$REPO" "$T/trees/3" 3 --os other)
  publish "$REPO"
  expect_check_refuses "v3 of OS 'other'" "'?other'?.*$OS|$OS.*'?other'?"
  agent "$SYS" upgrade
  expect_refused "v3 of OS 'other'" "'?other'?.*$OS|$OS.*'?other'?"
}

case_server_stops_answering() {
  fresh "the server stops answering in the middle of the pull"
  # 48 objects of 64 KiB, fetched at 64 KiB/s per connection: several seconds.
  make_tree "$T/trees/3" 3 48 64
  C3=$(commit_tree "$REPO" "$T/trees/3" 3)
  publish "$REPO"
  local low_speed_seconds=2 log=$T/nginx/access.log start mark sure_lines pid stopped_at elapsed w workers
  write_config "$CONFIG" "$NGINX_URL/slow/repo" "$low_speed_seconds"
  start=$(wc -l <"$log")
  LAST_CMD="bulwark-update --sysroot $SYS --config $CONFIG upgrade (in the background)"
  "$BU" --sysroot "$SYS" --config "$CONFIG" upgrade >"$T/agent.out" 2>"$T/agent.err" &
  pid=$!
  # Wait until a few objects of v3 have come through.
  for _ in $(seq 300); do
    [ "$(tail -n +$((start + 1)) "$log" | grep -c '\.filez HTTP/[0-9.]*" 200')" -ge 4 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null || fail "the upgrade ended before the server could be stopped: $(cat "$T/agent.err")"
  # Objects logged a second before the stop are surely stored by the agent.
  sure_lines=$(wc -l <"$log")
  sleep 1
  workers=$(nginx_workers)
  [ -n "$workers" ] || fail "nginx has no worker process"
  for w in $workers; do kill -STOP "$w"; done
  stopped_at=$(date +%s.%N)
  ok "nginx's worker(s) $workers stopped mid-pull (after $((sure_lines - start)) requests)"
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  # An upgrade that never gives up is a failure of this case, but the server
  # is let go on to see what the agent does then, and whether the next
  # upgrade resumes.
  local hung=""
  if kill -0 "$pid" 2>/dev/null; then
    hung="the upgrade still waited 60 s after the server stopped answering (low_speed_seconds=$low_speed_seconds)"
    echo "not ok: $hung; letting the server go on"
    for w in $workers; do kill -CONT "$w"; done
    for _ in $(seq 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  fi
  rc=0
  wait "$pid" || rc=$?
  elapsed=$(awk -v a="$stopped_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  out=$(cat "$T/agent.out")
  err=$(cat "$T/agent.err")
  for w in $workers; do kill -CONT "$w"; done
  if [ -z "$hung" ]; then
    ok "the upgrade gave up ${elapsed}s after the server stopped (low_speed_seconds=$low_speed_seconds)"
    awk -v e="$elapsed" -v l="$low_speed_seconds" 'BEGIN { exit !(e < 3 * l + 3) }' ||
      hung="the upgrade took ${elapsed}s to notice a silent server (low_speed_seconds=$low_speed_seconds)"
  else
    echo "the upgrade ended (exit status $rc) ${elapsed}s after the server stopped, once it answered again"
  fi
  expect_refused "a silent server" "timed? ?out|timeout|stopped answering|too slow|stall"

  step "the server answers again: the next upgrade resumes and completes"
  sleep 0.5  # nginx logs the requests the stop interrupted
  head -n "$sure_lines" "$log" | tail -n +$((start + 1)) |
    awk '$9 == 200 && $7 ~ /\.filez$/ { print $7 }' | sed 's|.*/objects/||' | sort -u >"$T/fetched-before"
  mark=$(wc -l <"$log")
  agent "$SYS" upgrade
  expect_agent_ok
  expect_eq "the default deployment after the resumed upgrade" "$(default_commit "$SYS")" "$C3"
  assert_consistent_sysroot "$SYS" "$C3"
  tail -n +$((mark + 1)) "$log" | awk '$7 ~ /\.filez$/ { print $7 }' | sed 's|.*/objects/||' |
    sort -u >"$T/fetched-after"
  local again
  again=$(comm -12 "$T/fetched-before" "$T/fetched-after" | wc -l)
  [ -s "$T/fetched-before" ] || fail "no object was fetched before the stop"
  expect_eq "objects fetched before the stop and fetched again ($(wc -l <"$T/fetched-before") before, $(wc -l <"$T/fetched-after") after)" \
    "$again" 0
  [ -z "$hung" ] || fail "$hung"
}

# The full disk: the sysroot lives in a small tmpfs, mounted in a private
# mount namespace (the test runs itself again under `unshare -m`), so nothing
# is visible outside it and the mount goes away with the namespace.
case_full_disk() {
  fresh "a full disk"
  # 8 MiB of incompressible data: far more than the tmpfs has left.
  make_tree "$T/trees/3" 3 32 256
  C3=$(commit_tree "$REPO" "$T/trees/3" 3)
  publish "$REPO"
  export T BU CONFIG REPO SYS C1 C2 C3 NGINX_URL
  unshare -m --propagation private -- "$SELF" --in-namespace full_disk_in_namespace ||
    fail "the full-disk case failed (above)"
}

full_disk_in_namespace() {
  local small=$T/small used
  SYS=$small/sysroot
  mkdir -p "$small"
  mount -t tmpfs -o size=64m,mode=0755 bulwark-update-test "$small" || fail "mounting a tmpfs on $small"
  cp -a "$T/base-sysroot" "$SYS"
  used=$(df -k --output=used "$small" | tail -n 1)
  # What the sysroot uses plus 2 MiB: room for metadata, not for v3's content.
  mount -o remount,size=$((used + 2048))k "$small" || fail "shrinking the tmpfs"
  ok "the sysroot is on a tmpfs with $(df -k --output=avail "$small" | tail -n 1) KiB free"
  sysroot_fingerprint "$SYS" >"$T/fp"
  agent "$SYS" upgrade
  [ "$rc" != 0 ] || fail "the upgrade succeeded on a full disk"
  [ "$rc" = 1 ] || fail "the upgrade on a full disk: exit status $rc, want 1"
  expect_match "the message names the lack of space" "$(agent_said)" "space|disk full|ENOSPC"
  expect_untouched "a full disk" "$T/fp" "$SYS"
  assert_consistent_sysroot "$SYS" "$C2"
  ok "the default deployment (v2) is still complete, with its kernel, and fsck is clean"
  step "room again: the upgrade goes through"
  mount -o remount,size=64m "$small" || fail "growing the tmpfs"
  agent "$SYS" upgrade
  expect_agent_ok
  expect_eq "the default deployment with room on the disk" "$(default_commit "$SYS")" "$C3"
  assert_consistent_sysroot "$SYS" "$C3"
}

# ---- main ----

if [ "${1:-}" = --in-namespace ]; then
  update_test_child_init
  "$2"
  exit 0
fi

update_test_init
make_base
# Each case runs in a subshell, so that one failure does not hide the others.
# UPDATE_CASES="name ..." runs only those (the names of the case_* functions).
all_cases="unsigned untrusted_key summary_signed_by_untrusted_key signature_of_another_commit truncated_object corrupted_object
           older_commit older_commit_not_deployed sequence_not_above_floor current_served_again other_os
           server_stops_answering full_disk"
failed=()
passed=0
for c in ${UPDATE_CASES:-$all_cases}; do
  set +e
  (
    set -e
    "case_$c"
  )
  case_rc=$?
  set -e
  # A case that failed while the server was stopped must not leave it so.
  for w in $(nginx_workers); do kill -CONT "$w" 2>/dev/null || true; done
  if [ "$case_rc" = 0 ]; then passed=$((passed + 1)); else failed+=("$c"); fi
done
echo
if [ "${#failed[@]}" != 0 ]; then
  echo "FAIL: ${#failed[@]} case(s) failed: ${failed[*]} ($passed passed)" >&2
  exit 1
fi
echo "PASS ($passed cases)"
