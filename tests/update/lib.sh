# shellcheck shell=bash
# The fixture of bulwark-update's integration tests (tests/privileged/update_*_test.sh).
#
# A test sources this file, then calls update_test_init, which skips (exit 77)
# when a requirement is missing and makes one temporary directory, $T, removed
# at exit with everything in it. The pieces:
#
#   make_keys NAME              ed25519 key pair $T/keys/NAME.{sec,pub} (bulwark-update keygen)
#   make_tree DIR VERSION [N [KB]]
#                               a small OS tree in ostree's layout (busybox as its binary,
#                               os-release with ID=bulwark, a dummy kernel and initramfs,
#                               the "main" public key in usr/lib/bulwark/update/trusted.d),
#                               plus N files of KB KiB of random data in usr/share/payload
#   make_repo DIR               an empty archive repository
#   commit_tree REPO TREE VERSION [ARGS...]
#                               bulwark-update commit on $REF, signed with the main key unless
#                               ARGS has a --key or --unsigned; prints the checksum
#   publish REPO                bulwark-update publish, summary signed with the main key
#                               (or the keys named in $PUBLISH_KEYS)
#   start_nginx DIR [CONF]      serves DIR on 127.0.0.1:$NGINX_PORT (CONF: extra lines for the
#                               server block); stop_nginx; nginx_workers
#   make_sysroot DIR REPO [COMMIT]
#                               a sysroot directory with COMMIT (default: $REF of REPO)
#                               deployed by the ostree CLI, the way an image is built
#   remove_sysroot DIR          chattr -i on its deployments, then rm -rf
#   write_config FILE URL [LOW_SPEED_SECONDS]
#   agent SYSROOT VERB [ARGS...] runs bulwark-update --sysroot SYSROOT --config $CONFIG;
#                               sets $rc, $out, $err (and keeps them for fail's report)
#
# what a sysroot holds: bls_entries (default first), bls_deployment, default_commit,
# deployed_commits, sysroot_fingerprint; and assertions: fail, ok, step, expect_eq,
# expect_match, expect_agent_ok, expect_untouched, assert_consistent_sysroot.
#
# The fixture uses the ostree CLI to build and inspect sysroots; bulwark-update
# itself is the only thing that upgrades them.

REF=bulwark/x86_64/stable
OS=bulwark
KVER=6.1.0

# ---- reporting ----

step() { echo "--- $*"; }
ok() { echo "ok: $*"; }
skip() {
  echo "SKIP: $*"
  exit 77
}
LAST_CMD=""
fail() {
  echo "FAIL: $*" >&2
  if [ -n "$LAST_CMD" ]; then
    echo "--- last command: $LAST_CMD (exit status ${rc:-?})" >&2
    if [ -s "$T/agent.out" ]; then
      echo "--- its stdout:" >&2
      cat "$T/agent.out" >&2
    fi
    if [ -s "$T/agent.err" ]; then
      echo "--- its stderr:" >&2
      cat "$T/agent.err" >&2
    fi
  fi
  exit 1
}
expect_eq() {  # WHAT GOT WANT
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
  ok "$1 = '$3'"
}
# expect_match WHAT TEXT REGEX: TEXT matches the extended REGEX (case-insensitive).
expect_match() {
  printf '%s\n' "$2" | grep -Eqi -- "$3" || fail "$1: '$2' does not match /$3/"
  ok "$1 matches /$3/"
}

# ---- setup and cleanup ----

update_test_init() {
  [ "$(id -u)" = 0 ] || skip "needs root (sysroots have root-owned, immutable deployments)"
  local tool
  for tool in ostree nginx jq chattr curl timeout unshare; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/bootstrap installs it)"
  done
  [ -x /bin/busybox ] || skip "busybox-static is not installed"
  if ldd /bin/busybox >/dev/null 2>&1; then skip "/bin/busybox is dynamically linked (install busybox-static)"; fi
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  BULWARK_SOURCE_DIR=${BULWARK_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
  BULWARK_BUILD_DIR=${BULWARK_BUILD_DIR:-$BULWARK_SOURCE_DIR/build}
  BU=$BULWARK_BUILD_DIR/updater/bulwark-update
  [ -x "$BU" ] || skip "$BU is not built"

  T=$(readlink -f "$(mktemp -d /tmp/bulwark-update-test.XXXXXX)")
  NGINX_PID=""
  trap update_test_cleanup EXIT
  trap 'exit 1' INT TERM HUP
  mkdir -p "$T/keys" "$T/trees" "$T/www"
  CONFIG=$T/update.toml
  echo "bulwark-update: $BU; temporary directory $T"
}

# For a test that runs part of itself again in another namespace (unshare):
# the child uses the parent's $T and $BU (exported) and leaves the cleanup to
# the parent.
update_test_child_init() {
  if [ -z "${T:-}" ] || [ ! -d "$T" ]; then
    echo "FAIL: no exported \$T in the child" >&2
    exit 1
  fi
  [ -x "${BU:-}" ] || { echo "FAIL: no exported \$BU in the child" >&2; exit 1; }
  NGINX_PID=""
}

# Deployment roots are immutable: clear the attribute of those under DIR.
unlock_deployments() {
  find "$1" -type d -path '*/ostree/deploy/*/deploy/*' -prune -print0 2>/dev/null |
    xargs -0 -r chattr -i 2>/dev/null || true
}

update_test_cleanup() {
  local rc=$?
  set +e
  trap - EXIT
  stop_nginx
  # Processes this test left running (agents started in the background) are
  # killed by pid where they were started; mounts live in private namespaces,
  # but unmount anything that did leak under $T.
  awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m"; done
  unlock_deployments "$T"
  rm -rf --one-file-system "$T"
  exit "$rc"
}

# ---- keys, trees, repositories ----

make_keys() {
  "$BU" keygen --secret "$T/keys/$1.sec" --public "$T/keys/$1.pub" >"$T/pub.out" 2>&1 ||
    fail "bulwark-update keygen ($1): $(cat "$T/pub.out")"
  if [ ! -s "$T/keys/$1.sec" ] || [ ! -s "$T/keys/$1.pub" ]; then fail "keygen wrote no key files for $1"; fi
}

# make_tree DIR VERSION [PAYLOAD_FILES [PAYLOAD_KB]]
make_tree() {
  local dir=$1 version=$2 files=${3:-0} kb=${4:-64} i
  rm -rf "$dir"
  mkdir -p "$dir"/usr/{bin,sbin,etc/bulwark,lib/modules/$KVER,lib/bulwark/update/trusted.d,share/payload}
  cp /bin/busybox "$dir/usr/bin/busybox"
  for i in sh ls cat mount; do ln -s busybox "$dir/usr/bin/$i"; done
  ln -s ../bin/busybox "$dir/usr/sbin/init"
  for i in bin sbin lib; do ln -s "usr/$i" "$dir/$i"; done
  cat >"$dir/usr/lib/os-release" <<EOF
NAME=Bulwark
ID=bulwark
VERSION_ID=$version
PRETTY_NAME="Bulwark $version"
EOF
  cp "$dir/usr/lib/os-release" "$dir/usr/etc/os-release"
  echo "Bulwark $version" >"$dir/usr/etc/motd"
  # A kernel that changes with the version, so that every deployment gets its own /boot files.
  echo "bulwark dummy kernel for version $version" >"$dir/usr/lib/modules/$KVER/vmlinuz"
  echo "bulwark dummy initramfs for version $version" >"$dir/usr/lib/modules/$KVER/initramfs.img"
  cp "$T/keys/main.pub" "$dir/usr/lib/bulwark/update/trusted.d/main.pub"
  echo "$version" >"$dir/usr/share/payload/version"
  for ((i = 0; i < files; i++)); do
    head -c "$((kb * 1024))" /dev/urandom >"$dir/usr/share/payload/blob$i"
  done
}

make_repo() {
  mkdir -p "$1"
  ostree init --repo="$1" --mode=archive-z2 || fail "ostree init --repo=$1"
}

# commit_tree REPO TREE VERSION [ARGS...]: prints the new commit's checksum.
# Signed with the main key unless ARGS has its own --key, or --unsigned.
# The branch is $REF, or $COMMIT_BRANCH when set.
commit_tree() {
  local repo=$1 tree=$2 version=$3 a sign=1 args=() branch=${COMMIT_BRANCH:-$REF}
  shift 3
  for a in "$@"; do
    case $a in
      --unsigned) sign=0 ;;
      --key) sign=0; args+=("$a") ;;
      *) args+=("$a") ;;
    esac
  done
  [ "$sign" = 1 ] && args+=(--key "$T/keys/main.sec")
  "$BU" commit --repo "$repo" --branch "$branch" --tree "$tree" --version "$version" "${args[@]}" \
    >"$T/pub.out" 2>"$T/pub.err" ||
    fail "bulwark-update commit --version $version ${args[*]}: $(cat "$T/pub.err" "$T/pub.out")"
  local csum
  csum=$(tail -n 1 "$T/pub.out")
  [[ $csum =~ ^[0-9a-f]{64}$ ]] || fail "bulwark-update commit printed '$(cat "$T/pub.out")', not a checksum"
  echo "$csum"
}

# publish REPO: the summary, signed with the keys named in $PUBLISH_KEYS (default: main).
publish() {
  local k keys=()
  for k in ${PUBLISH_KEYS:-main}; do keys+=(--key "$T/keys/$k.sec"); done
  "$BU" publish --repo "$1" "${keys[@]}" >"$T/pub.out" 2>&1 ||
    fail "bulwark-update publish --repo $1 (keys ${PUBLISH_KEYS:-main}): $(cat "$T/pub.out")"
  # nginx's Last-Modified and ETag have a resolution of one second: two
  # publications within a second could look unchanged to a client that
  # revalidates its cached summary. Give each publication a second of its
  # own, later than any before (counted in a file: tests run cases in subshells).
  local last stamp
  last=$(cat "$T/published" 2>/dev/null || echo 0)
  stamp=$(date +%s)
  [ "$stamp" -gt "$last" ] || stamp=$((last + 1))
  echo "$stamp" >"$T/published"
  touch -d "@$stamp" "$1/summary"
  [ ! -e "$1/summary.sig" ] || touch -d "@$stamp" "$1/summary.sig"
}

# set_served_ref REPO COMMIT: points $REF at COMMIT (as an attacker or a
# mistaken operator would, bypassing `commit`) and regenerates the summary.
set_served_ref() {
  echo "$2" >"$1/refs/heads/$REF"
  publish "$1"
}

# The archive repo's path of an object: object_path REPO CHECKSUM SUFFIX
object_path() {
  echo "$1/objects/${2:0:2}/${2:2}.$3"
}

# The checksum of the content object of FILE (a path in the commit) in REPO at REV.
content_checksum() {
  ostree --repo="$1" ls -C "$2" "$3" | awk '{ print $5 }'
}

# ---- nginx ----

# start_nginx DIR [EXTRA_SERVER_CONF]: serves DIR at http://127.0.0.1:$NGINX_PORT/.
# nginx runs in the foreground (daemon off) in the background of this shell:
# its pid is the master's; its config, pid file, logs and temp files are in $T/nginx.
start_nginx() {
  local root=$1 extra=${2:-} n=$T/nginx
  mkdir -p "$n/tmp"
  for _ in 1 2 3 4 5 6 7 8; do
    NGINX_PORT=$((20000 + RANDOM % 40000))
    if ss -Htln "sport = :$NGINX_PORT" | grep -q .; then continue; fi
    cat >"$n/nginx.conf" <<EOF
daemon off;
worker_processes 1;
# The served files are in a mode 0700 temporary directory.
user root;
pid $n/nginx.pid;
error_log $n/error.log info;
events { worker_connections 128; }
http {
  default_type application/octet-stream;
  access_log $n/access.log;
  client_body_temp_path $n/tmp/body;
  proxy_temp_path $n/tmp/proxy;
  fastcgi_temp_path $n/tmp/fastcgi;
  uwsgi_temp_path $n/tmp/uwsgi;
  scgi_temp_path $n/tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $root;
    $extra
  }
}
EOF
    : >"$n/error.log"
    nginx -e "$n/error.log" -p "$n/" -c "$n/nginx.conf" &
    NGINX_PID=$!
    local i
    for i in $(seq 50); do
      if curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/"; then
        NGINX_URL=http://127.0.0.1:$NGINX_PORT
        ok "nginx (pid $NGINX_PID) serves $root at $NGINX_URL"
        return 0
      fi
      kill -0 "$NGINX_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$NGINX_PID" 2>/dev/null
    wait "$NGINX_PID" 2>/dev/null
    NGINX_PID=""
    grep -q "Address already in use" "$n/error.log" || fail "nginx did not start: $(cat "$n/error.log")"
  done
  fail "nginx found no free port"
}

nginx_workers() {
  [ -n "$NGINX_PID" ] && pgrep -P "$NGINX_PID"
}

stop_nginx() {
  [ -n "${NGINX_PID:-}" ] || return 0
  local w
  # A stopped worker would never see the master's signal.
  for w in $(nginx_workers); do kill -CONT "$w" 2>/dev/null; done
  kill -TERM "$NGINX_PID" 2>/dev/null
  wait "$NGINX_PID" 2>/dev/null
  NGINX_PID=""
}

# ---- sysroots ----

# make_sysroot DIR REPO [COMMIT]: the first deployment, as an image build makes
# it: the commit pulled into the sysroot's repo, $REF pointing to it, deployed.
make_sysroot() {
  local dir=$1 repo=$2 commit=${3:-}
  [ -n "$commit" ] || commit=$(ostree --repo="$repo" rev-parse "$REF")
  mkdir -p "$dir"
  {
    ostree admin init-fs "$dir" &&
      ostree admin os-init "$OS" --sysroot "$dir" &&
      ostree config --repo "$dir/ostree/repo" set sysroot.bootloader none &&
      ostree --repo="$dir/ostree/repo" pull-local "$repo" "$commit" &&
      ostree --repo="$dir/ostree/repo" refs --create="$REF" "$commit" &&
      ostree admin deploy --sysroot "$dir" --os "$OS" "$REF"
  } >"$T/make_sysroot.log" 2>&1 || fail "making the sysroot $dir: $(cat "$T/make_sysroot.log")"
  # An empty GRUB environment block (1024 bytes), as the image ships it.
  mkdir -p "$dir/boot/grub"
  {
    printf '# GRUB Environment Block\n'
    printf '%*s' $((1024 - 25)) '' | tr ' ' '#'
  } >"$dir/boot/grub/grubenv"
}

remove_sysroot() {
  [ -e "$1" ] || return 0
  unlock_deployments "$1"
  rm -rf --one-file-system "$1"
}

# write_config FILE URL [LOW_SPEED_SECONDS]: the agent's configuration.
write_config() {
  cat >"$1" <<EOF
[remote]
url = "$2"
ref = "$REF"
os = "$OS"
low_speed_bytes = 1000
low_speed_seconds = ${3:-30}

[policy]
auto_reboot = false
boot_attempts = 3

[boot]
grubenv = "/boot/grub/grubenv"
EOF
}

# agent SYSROOT VERB [ARGS...]: sets rc, out, err.
agent() {
  local sysroot=$1
  shift
  LAST_CMD="bulwark-update --sysroot $sysroot --config $CONFIG $*"
  rc=0
  timeout --signal=KILL "${AGENT_TIMEOUT:-300}" "$BU" --sysroot "$sysroot" --config "$CONFIG" "$@" \
    >"$T/agent.out" 2>"$T/agent.err" || rc=$?
  out=$(cat "$T/agent.out")
  err=$(cat "$T/agent.err")
}
expect_agent_ok() {
  [ "$rc" = 0 ] || fail "$LAST_CMD failed (exit status $rc)"
  ok "$LAST_CMD"
}
# The agent's words, stdout and stderr together.
agent_said() {
  printf '%s\n%s\n' "$out" "$err"
}

state_json() {
  echo "$1/ostree/deploy/$OS/var/lib/bulwark/update/state.json"
}

# ---- what a sysroot holds ----

# The BLS entries of the current boot version, default first (ostree numbers
# them so that the highest `version` is the default).
bls_entries() {
  local e
  for e in "$1"/boot/loader/entries/*.conf; do
    [ -e "$e" ] || continue
    printf '%s %s\n' "$(awk '$1 == "version" { print $2 }' "$e")" "$e"
  done | sort -k1,1nr | awk '{ print $2 }'
}

# The deployment directory a BLS entry boots (its ostree= argument, resolved in the sysroot).
bls_deployment() {
  local sysroot=$1 entry=$2 arg
  arg=$(sed -n 's/^options .*ostree=\([^ ]*\).*/\1/p' "$entry")
  [ -n "$arg" ] || return 1
  readlink -e "$sysroot$arg"
}

# The commit of the default deployment (the first BLS entry's), or "".
default_commit() {
  local first dep
  first=$(bls_entries "$1" | head -n 1)
  [ -n "$first" ] || return 0
  dep=$(bls_deployment "$1" "$first") || return 0
  basename "$dep" | sed 's/\.[0-9]*$//'
}

# The commits of the deployments, in the order of their BLS entries.
deployed_commits() {
  local e dep
  for e in $(bls_entries "$1"); do
    dep=$(bls_deployment "$1" "$e") || { echo "unresolved"; continue; }
    basename "$dep" | sed 's/\.[0-9]*$//'
  done
}

# Everything a bad update must leave untouched: what ostree lists, the BLS
# entries, the deployment directories and their origins.
sysroot_fingerprint() {
  local s=$1 f
  echo "== ostree admin status"
  ostree admin status --sysroot "$s" 2>&1
  echo "== /boot/loader -> $(readlink "$s/boot/loader")"
  for f in "$s"/boot/loader/entries/*.conf; do
    echo "== $f"
    cat "$f"
  done
  echo "== deployments"
  ls -1 "$s/ostree/deploy/$OS/deploy"
  for f in "$s/ostree/deploy/$OS/deploy"/*.origin; do
    echo "== $f"
    cat "$f"
  done
}

# expect_untouched WHAT FINGERPRINT_FILE SYSROOT
expect_untouched() {
  sysroot_fingerprint "$3" >"$T/fingerprint.now"
  diff -u "$2" "$T/fingerprint.now" >"$T/fingerprint.diff" ||
    fail "$1: the sysroot's deployments changed:
$(cat "$T/fingerprint.diff")"
  ok "$1: deployments, BLS entries and origins unchanged"
}

# The deployment's /usr has exactly the files of its commit (names, types, sizes, link targets).
deployment_matches_commit() {
  local sysroot=$1 dep=$2 csum=$3
  ostree --repo="$sysroot/ostree/repo" ls -R "$csum" /usr |
    awk '{ t = substr($1, 1, 1)
           if (t == "-") print "f", $4, $5
           else if (t == "l") print "l", $5, $7
           else print "d", $5 }' | sort >"$T/commit.files" ||
    return 1
  (cd "$dep" && find usr \( -type f -printf 'f %s /%p\n' \) -o \( -type l -printf 'l /%p %l\n' \) \
                          -o \( -type d -printf 'd /%p\n' \)) | sort >"$T/deployment.files"
  diff -u "$T/commit.files" "$T/deployment.files" >"$T/files.diff"
}

# assert_consistent_sysroot SYSROOT COMMIT...: the sysroot would boot: its
# repository passes fsck (unless FSCK=0), ostree can read it, and the default
# BLS entry boots a complete deployment of one of COMMITs, with its kernel and
# initramfs. Sets CONSISTENT_COMMIT to the commit it boots.
assert_consistent_sysroot() {
  local s=$1 first dep csum linux initrd c found=0
  shift
  if [ "${FSCK:-1}" = 1 ]; then
    ostree fsck --repo="$s/ostree/repo" >"$T/fsck.log" 2>&1 || fail "ostree fsck of $s: $(cat "$T/fsck.log")"
    grep -q "no errors found" "$T/fsck.log" || fail "ostree fsck of $s reports problems: $(cat "$T/fsck.log")"
  fi
  ostree admin status --sysroot "$s" >"$T/status.log" 2>&1 || fail "ostree admin status: $(cat "$T/status.log")"
  first=$(bls_entries "$s" | head -n 1)
  [ -n "$first" ] || fail "no BLS entry in $s/boot/loader/entries"
  dep=$(bls_deployment "$s" "$first") || fail "the default BLS entry's ostree= path does not resolve: $(cat "$first")"
  csum=$(basename "$dep" | sed 's/\.[0-9]*$//')
  for c in "$@"; do [ "$c" = "$csum" ] && found=1; done
  [ "$found" = 1 ] || fail "the default BLS entry boots $csum, none of $*"
  linux=$(awk '$1 == "linux" { print $2 }' "$first")
  initrd=$(awk '$1 == "initrd" { print $2 }' "$first")
  [ -s "$s/boot$linux" ] || fail "the default BLS entry's kernel $linux is missing"
  [ -s "$s/boot$initrd" ] || fail "the default BLS entry's initramfs $initrd is missing"
  cmp -s "$s/boot$linux" "$dep/usr/lib/modules/$KVER/vmlinuz" ||
    fail "the default BLS entry's kernel is not its deployment's"
  [ -e "$dep.origin" ] || fail "the default deployment $dep has no origin file"
  [ -d "$dep/etc" ] || fail "the default deployment $dep has no /etc"
  deployment_matches_commit "$s" "$dep" "$csum" ||
    fail "the default deployment's /usr differs from commit $csum: $(cat "$T/files.diff")"
  ostree admin status --sysroot "$s" | grep -q "$csum" || fail "ostree admin status does not list $csum"
  # shellcheck disable=SC2034  # for the caller
  CONSISTENT_COMMIT=$csum
}
