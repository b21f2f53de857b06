#!/bin/bash
# Update transfer: bytes, requests, time and peak RSS of bulwark-update against upstream's ostree
# CLI doing the same job on identical sysroots, in one run, for a full install and for a patch
# (one binary changed in a ~50 MB tree) with and without static deltas. A benchmark, not a test:
# it reports figures, ratios and PASS/MISS against the patch target.
#
# usage: tests/bench/update_bench.sh [-n N] [-k] [-b BUILD_DIR] [-s]
#   -n N         measured runs per scenario and updater (default 3; env BENCH_N)
#   -k           keep the temporary directory (repository, nginx logs, per-run request logs)
#   -b DIR       build directory holding updater/bulwark-update and tests/bench/bw-bench-time
#                (default: build/ of this checkout; env BULWARK_BUILD)
#   -s           strict: exit 1 when bulwark-update misses a target (otherwise exit 0)
#   -h           this help
#
# Needs root, ostree, nginx, curl, jq, chattr and busybox-static (the fixture of
# tests/update/lib.sh checks them and exits 77 when one is missing). Build first:
# cmake --build build -j2 --target bulwark-update bw-bench-time
#
# How it measures. The publisher's archive repository is served by nginx on loopback. Tree v1
# is the fixture's small OS tree (busybox, os-release, a dummy kernel) plus copies of the
# largest ELF binaries of 256 KiB to 4 MiB from /usr/bin and /usr/sbin (about 28 MiB,
# compressible) and 10 files of 2 MiB of random data (incompressible): about 50 MB in a few
# dozen files. Tree v2 is a copy of v1 in which exactly one binary, the largest one copied
# (2 to 4 MiB), has 16 runs of 256 bytes overwritten, evenly spread, as a rebuild with a small
# code change would. Scenarios, in this order, against the same repository:
#   full   a fresh sysroot (init-fs, os-init, no deployment) installs v1; published plainly
#   patch  a sysroot running v1 takes v2; published plainly (no static delta)
#   delta  the same, after `bulwark-update publish --static-delta` (a delta v1 -> v2)
# Every run starts from a fresh sysroot made the same way for both updaters: the remote
# "bulwark" set to the served repository (no GPG) and, for the patch scenarios, v1 pulled
# locally, on the remote ref and deployed, as an image build leaves it. bulwark-update runs
# `upgrade` (one process: summary, signatures, pull, deploy). ostree runs
# `ostree --repo=SYSROOT/ostree/repo pull bulwark REF` then
# `ostree admin deploy --sysroot=SYSROOT --os=bulwark bulwark:REF`. Each run does both, in an
# order that alternates from run to run. bw-bench-time times each process (wall, fork to
# wait4) and reports its ru_maxrss; ostree's figures are the sum of its two times and the
# larger of its two peaks. Bytes are the sum of nginx's $body_bytes_sent over the requests the
# operation made (its lines of the access log); requests counts them, errors included.
# bulwark-update's deploy phase is timed from its "-> deploying" log line to its exit (its
# stderr is timestamped as it arrives); ostree's is the `ostree admin deploy` process.
# The patch target: bytes transferred under 2x the changed file's compressed size (gzip -6).

# shellcheck disable=SC2317 # functions are called through variables (run_scenario) and traps
set -eu
set -o pipefail
export LC_ALL=C

here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
n=${BENCH_N:-3}
build=${BULWARK_BUILD:-$here/../../build}
keep=0
strict=0
usage() { awk 'NR > 1 { if (!/^#/ || /^# Needs root/) exit; sub(/^# ?/, ""); print }' "$0"; }
while getopts n:kb:sh opt; do
  case $opt in
    n) n=$OPTARG ;;
    k) keep=1 ;;
    b) build=$OPTARG ;;
    s) strict=1 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
die() { echo "update_bench: $*" >&2; exit 1; }
case $n in '' | *[!0-9]* | 0) die "-n wants a positive number, not '$n'" ;; esac
[ "$(id -u)" = 0 ] || die "needs root (sysroots have root-owned, immutable deployments)"
[ -d "$build" ] || die "no build directory '$build': build first"
BULWARK_BUILD_DIR=$(cd "$build" && pwd)
TIMER=$BULWARK_BUILD_DIR/tests/bench/bw-bench-time
[ -x "$TIMER" ] || die "$TIMER is missing: cmake --build $build -j2 --target bw-bench-time"

# shellcheck source-path=SCRIPTDIR source=../update/lib.sh
source "$here/../update/lib.sh"
update_test_init
if [ "$keep" = 1 ]; then
  bench_keep() {
    local rc=$?
    set +e
    trap - EXIT
    stop_nginx
    echo "kept $T (its deployments are immutable: chattr -i them before removing it)"
    exit "$rc"
  }
  trap bench_keep EXIT
fi

BIN_TARGET_KB=$((28 * 1024))   # real binaries copied into the tree
RANDOM_FILES=10                # and this many files of random data
RANDOM_KB=2048
REPO=$T/www/repo
LOG=$T/bench.log               # everything the updaters print
ACCESS=$T/nginx/access.log
RESULTS=$T/results             # one line per operation, see measure_*
PHASES=$T/phases
mkdir -p "$T/runs"
: >"$LOG"
: >"$RESULTS"
: >"$PHASES"

# ---- trees, repository, server ----

# The binaries to copy: ELF files of 256 KiB to 4 MiB, largest first, one of each content,
# up to BIN_TARGET_KB in all. Prints "SIZE PATH" lines.
pick_binaries() {
  local total=0 size path sum
  declare -A seen=()
  seen[$(sha256sum </bin/busybox | cut -d' ' -f1)]=1  # the fixture's tree has it already
  while read -r size path; do
    [ "$(head -c 4 "$path" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || continue
    sum=$(sha256sum <"$path" | cut -d' ' -f1)
    [ -z "${seen[$sum]:-}" ] || continue
    seen[$sum]=1
    echo "$size $path"
    total=$((total + size / 1024))
    [ "$total" -lt "$BIN_TARGET_KB" ] || break
  done < <(find /usr/bin /usr/sbin -maxdepth 1 -type f -size +256k -size -4097k -printf '%s %p\n' |
    sort -k1,1nr -k2,2)
}

# Overwrites 16 runs of 256 bytes of FILE, evenly spread.
patch_binary() {
  local f=$1 size i
  size=$(stat -c %s "$f")
  for ((i = 0; i < 16; i++)); do
    dd if=/dev/urandom of="$f" bs=256 count=1 conv=notrunc status=none \
      seek=$(((size / 256) * (2 * i + 1) / 32))
  done
}

step "building trees v1 and v2"
make_keys main
make_tree "$T/trees/1" 1 "$RANDOM_FILES" "$RANDOM_KB"
pick_binaries >"$T/binaries"
[ -s "$T/binaries" ] || die "found no ELF binaries of 256 KiB to 4 MiB in /usr/bin or /usr/sbin"
CHANGED=""
while read -r size path; do
  name=${path##*/}
  [ ! -e "$T/trees/1/usr/bin/$name" ] || name=$name.copy
  cp "$path" "$T/trees/1/usr/bin/$name"
  [ -n "$CHANGED" ] || { CHANGED=/usr/bin/$name; changed_size=$size changed_src=$path; }
done <"$T/binaries"
[ "$changed_size" -ge $((2 * 1024 * 1024)) ] ||
  die "the largest binary found, $changed_src, has $changed_size bytes: not 2 to 4 MiB"
cp -a "$T/trees/1" "$T/trees/2"
patch_binary "$T/trees/2$CHANGED"
diff -rq --no-dereference "$T/trees/1" "$T/trees/2" >"$T/tree.diff" || true
[ "$(wc -l <"$T/tree.diff")" = 1 ] || die "v1 and v2 should differ in one file: $(cat "$T/tree.diff")"
tree_bytes=$(du -sb "$T/trees/1" | cut -f1)
tree_files=$(find "$T/trees/1" -type f | wc -l)
changed_gzip=$(gzip -6 -c "$T/trees/2$CHANGED" | wc -c)

make_repo "$REPO"
C1=$(commit_tree "$REPO" "$T/trees/1" 1)
publish "$REPO"
start_nginx "$T/www"
URL=$NGINX_URL/repo
write_config "$CONFIG" "$URL"
repo_v1_bytes=$(du -sb "$REPO/objects" | cut -f1)
ok "v1 $C1: $tree_files files, $tree_bytes bytes; the archive repository's objects: $repo_v1_bytes bytes"

# ---- sysroots ----

# Both updaters get the same sysroot: the remote "bulwark" as bulwark-update would set it
# (no GPG; Bulwark verifies its own ed25519 signatures with the key under usr/lib, relative
# to the sysroot), and an empty GRUB environment block.
sysroot_common() {
  local dir=$1
  ostree remote add --repo="$dir/ostree/repo" --no-gpg-verify "$OS" "$URL" >>"$LOG" 2>&1 ||
    fail "ostree remote add in $dir"
  mkdir -p "$dir/usr/lib/bulwark/update/trusted.d"
  cp "$T/keys/main.pub" "$dir/usr/lib/bulwark/update/trusted.d/main.pub"
}

# A sysroot with no deployment, as the installer leaves it before the first pull.
empty_sysroot() {
  local dir=$1
  mkdir -p "$dir"
  {
    ostree admin init-fs "$dir" &&
      ostree admin os-init "$OS" --sysroot "$dir" &&
      ostree config --repo "$dir/ostree/repo" set sysroot.bootloader none
  } >>"$LOG" 2>&1 || fail "making the empty sysroot $dir"
  mkdir -p "$dir/boot/grub"
  {
    printf '# GRUB Environment Block\n'
    printf '%*s' $((1024 - 25)) '' | tr ' ' '#'
  } >"$dir/boot/grub/grubenv"
  sysroot_common "$dir"
}

# A sysroot running v1, with v1 on the remote ref, as an image build leaves it.
v1_sysroot() {
  local dir=$1
  make_sysroot "$dir" "$REPO" "$C1"
  sysroot_common "$dir"
  ostree --repo="$dir/ostree/repo" refs --create="$OS:$REF" "$C1" >>"$LOG" 2>&1 ||
    fail "setting $OS:$REF in $dir"
}

# ---- measuring ----

access_lines() { wc -l <"$ACCESS"; }

# requests_since MARK OUT: the access log's lines after line MARK into OUT; prints "BYTES REQUESTS".
requests_since() {
  tail -n +$(($1 + 1)) "$ACCESS" >"$2"
  awk -F'"' '{ split($3, f, " "); bytes += f[2]; n++ } END { printf "%d %d\n", bytes, n }' "$2"
}

# Timestamps each line of stdin with $EPOCHREALTIME, then one "EOF" line when it closes.
stamp_lines() {
  local line
  while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done
  printf '%s EOF\n' "$EPOCHREALTIME"
}

# check_deployed SYSROOT COMMIT TREE WHAT: COMMIT is the default deployment, and its copy of
# the changed binary is TREE's.
check_deployed() {
  local got dep
  got=$(default_commit "$1")
  [ "$got" = "$2" ] || fail "$4: the default deployment is '$got', not $2"
  dep=$(bls_deployment "$1" "$(bls_entries "$1" | head -n 1)")
  cmp -s "$dep$CHANGED" "$3$CHANGED" || fail "$4: the deployment's $CHANGED is not the one of $3"
}

# phase STAMPED_STDERR FROM TO: ns from the first line matching FROM to the first matching TO
# (TO = EOF: the end of the output).
phase() {
  awk -v from="$2" -v to="$3" '
    s == "" && index($0, from) { s = $1 }
    s != "" && e == "" && (to == "EOF" ? $2 == "EOF" : index($0, to)) { e = $1 }
    END { if (s == "" || e == "") print "-"; else printf "%.0f\n", (e - s) * 1e9 }' "$1"
}

# Results lines: SCENARIO UPDATER RUN BYTES REQUESTS TOTAL_NS FETCH_NS DEPLOY_NS RSS_KB, where
# FETCH is everything before the deployment (for bulwark-update: TOTAL - DEPLOY).
# bulwark-update's phases go to $PHASES: SCENARIO RUN CHECK_NS DOWNLOAD_NS.
measure_bulwark() {
  local scenario=$1 run=$2 sys=$3 want=$4 tree=$5 mark t d st tag=$1.bulwark.$2
  mark=$(access_lines)
  rm -f "$T/t"
  echo "== $tag: bulwark-update upgrade" >>"$LOG"
  "$TIMER" "$T/t" timeout --signal=KILL 600 "$BU" --sysroot "$sys" --config "$CONFIG" upgrade \
    2>&1 >>"$LOG" </dev/null | stamp_lines >"$T/runs/$tag.stderr" ||
    { cut -d' ' -f2- "$T/runs/$tag.stderr" >&2; fail "$tag: bulwark-update upgrade failed"; }
  cut -d' ' -f2- "$T/runs/$tag.stderr" >>"$LOG"
  check_deployed "$sys" "$want" "$tree" "$tag"
  read -r t rss <"$T/t"
  st=$T/runs/$tag.stderr
  d=$(phase "$st" "-> deploying" EOF)
  [ "$d" != - ] || fail "$tag: no '-> deploying' line from bulwark-update: $(cat "$st")"
  echo "$scenario bulwark $run $(requests_since "$mark" "$T/runs/$tag.requests") $t $((t - d)) $d $rss" \
    >>"$RESULTS"
  echo "$scenario $run $(phase "$st" "-> checking" "checking -> ") $(phase "$st" "-> downloading" "-> deploying")" \
    >>"$PHASES"
}

measure_ostree() {
  local scenario=$1 run=$2 sys=$3 want=$4 tree=$5 mark tp rp td rd tag=$1.ostree.$2
  mark=$(access_lines)
  rm -f "$T/t"
  echo "== $tag: ostree pull, ostree admin deploy" >>"$LOG"
  "$TIMER" "$T/t" timeout --signal=KILL 600 ostree --repo="$sys/ostree/repo" pull "$OS" "$REF" \
    >>"$LOG" 2>&1 </dev/null || fail "$tag: ostree pull failed (see $LOG)"
  "$TIMER" "$T/t" timeout --signal=KILL 600 ostree admin deploy --sysroot="$sys" --os="$OS" "$OS:$REF" \
    >>"$LOG" 2>&1 </dev/null || fail "$tag: ostree admin deploy failed (see $LOG)"
  check_deployed "$sys" "$want" "$tree" "$tag"
  { read -r tp rp; read -r td rd; } <"$T/t"
  echo "$scenario ostree $run $(requests_since "$mark" "$T/runs/$tag.requests") $((tp + td)) $tp $td" \
    "$((rp > rd ? rp : rd))" >>"$RESULTS"
}

# run_scenario NAME MAKE_SYSROOT COMMIT TREE: N runs, the updaters' order alternating.
run_scenario() {
  local name=$1 make=$2 want=$3 tree=$4 i u order
  for ((i = 1; i <= n; i++)); do
    if ((i % 2)); then order="bulwark ostree"; else order="ostree bulwark"; fi
    for u in $order; do
      "$make" "$T/sys"
      "measure_$u" "$name" "$i" "$T/sys" "$want" "$tree"
      remove_sysroot "$T/sys"
    done
  done
  ok "$name: $n runs of each"
}

step "full install of v1 ($n runs each)"
run_scenario full empty_sysroot "$C1" "$T/trees/1"

step "patch v1 -> v2, published without static deltas ($n runs each)"
C2=$(commit_tree "$REPO" "$T/trees/2" 2)
publish "$REPO"
changed_obj=$(object_path "$REPO" "$(content_checksum "$REPO" "$C2" "$CHANGED")" filez)
changed_filez=$(stat -c %s "$changed_obj")
run_scenario patch v1_sysroot "$C2" "$T/trees/2"

step "patch v1 -> v2, published with a static delta ($n runs each)"
delta_made_by="bulwark-update publish --static-delta"
"$BU" publish --repo "$REPO" --static-delta --key "$T/keys/main.sec" >"$T/delta.out" 2>&1 ||
  fail "bulwark-update publish --static-delta: $(tail -n 3 "$T/delta.out")"
cat "$T/delta.out" >>"$LOG"
delta_bytes=$(du -sb "$REPO/deltas" 2>/dev/null | cut -f1)
[ -n "$delta_bytes" ] || fail "bulwark-update publish --static-delta wrote no $REPO/deltas"
delta_parts=$(find "$REPO/deltas" -type f | wc -l)
run_scenario delta v1_sysroot "$C2" "$T/trees/2"

# ---- report ----

# What the requests of one run fetched: summary files, objects by type, delta parts, errors.
breakdown() {
  awk -F'"' '{
      split($2, r, " "); split($3, f, " "); p = r[2]; st = f[1]; b = f[2]
      sub(/^\/repo\//, "", p)
      if (st >= 400) k = "errors (" st ")"
      else if (p ~ /^summary/) k = "summary, summary.sig"
      else if (p == "config") k = "config"
      else if (p ~ /^objects\//) { k = p; sub(/.*\./, "", k); k = "objects ." k }
      else if (p ~ /^delta-indexes\//) k = "delta index"
      else if (p ~ /^deltas\/.*\/superblock$/) k = "delta superblock"
      else if (p ~ /^deltas\//) k = "delta parts"
      else k = p
      n[k]++; s[k] += b
    }
    END { for (k in n) printf "      %-22s %4d requests %12d bytes\n", k, n[k], s[k] }' "$1" | sort
}

awk -v gz="$changed_gzip" -v filez="$changed_filez" -v strict="$strict" '
  function med(key,    m, i, j, t, v) {
    m = cnt[key]
    for (i = 1; i <= m; i++) v[i] = val[key, i]
    for (i = 2; i <= m; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
  }
  function add(k, x) { val[k, ++cnt[k]] = x }
  function ms(ns) { return sprintf("%.0f", ns / 1e6) }
  function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
  FILENAME == ARGV[1] {
    s = $1; u = $2
    add(s SUBSEP u SUBSEP "bytes", $4); add(s SUBSEP u SUBSEP "req", $5); add(s SUBSEP u SUBSEP "total", $6)
    add(s SUBSEP u SUBSEP "fetch", $7); add(s SUBSEP u SUBSEP "deploy", $8); add(s SUBSEP u SUBSEP "rss", $9)
    next
  }
  { add($1 SUBSEP "check", $3); add($1 SUBSEP "download", $4) }
  END {
    split("full patch delta", sc, " ")
    title["full"] = "full install of v1"; title["patch"] = "patch v1->v2, no delta"
    title["delta"] = "patch v1->v2, static delta"
    split("bytes req total fetch deploy rss", col, " ")
    printf "Medians; ratio = bulwark-update / ostree. fetch = all before the deployment.\n"
    printf "%-27s %-14s %10s %5s %9s %9s %9s %9s\n", "scenario", "updater", "bytes", "reqs",
      "total ms", "fetch ms", "deploy ms", "RSS KiB"
    for (i = 1; i <= 3; i++) {
      s = sc[i]
      for (k = 1; k <= 2; k++) {
        u = k == 1 ? "bulwark" : "ostree"
        for (c = 1; c <= 6; c++) x[u, col[c]] = med(s SUBSEP u SUBSEP col[c])
        printf "%-27s %-14s %10d %5d %9s %9s %9s %9d\n", k == 1 ? title[s] : "",
          k == 1 ? "bulwark-update" : "ostree", x[u, "bytes"], x[u, "req"], ms(x[u, "total"]),
          ms(x[u, "fetch"]), ms(x[u, "deploy"]), x[u, "rss"]
      }
      printf "%-27s %-14s", "", "ratio"
      for (c = 1; c <= 6; c++)
        printf c == 1 ? " %10s" : c == 2 ? " %5s" : " %9s", ratio(x["bulwark", col[c]], x["ostree", col[c]])
      printf "\n"
      tb[s] = x["bulwark", "bytes"]; to[s] = x["ostree", "bytes"]
      ph[s] = sprintf("%s: check %s ms, download %s ms", s, ms(med(s SUBSEP "check")), ms(med(s SUBSEP "download")))
    }
    printf "bulwark-update phases (medians, from its log lines): %s; %s; %s\n", ph["full"], ph["patch"], ph["delta"]
    print ""
    printf "Patch target: bytes transferred < 2 x the changed file compressed (gzip -6: %d bytes; .filez %d)\n",
      gz, filez
    for (i = 2; i <= 3; i++) {
      s = sc[i]
      ok = tb[s] < 2 * gz
      if (!ok) miss++
      printf "  %-27s bulwark-update %9d bytes = %5.2f x gzip (%5.2f x .filez)  %s\n", title[s], tb[s],
        tb[s] / gz, tb[s] / filez, ok ? "PASS" : "MISS"
      printf "  %-27s ostree         %9d bytes = %5.2f x gzip (%5.2f x .filez)  (%s 2x; reference)\n", "", to[s],
        to[s] / gz, to[s] / filez, to[s] < 2 * gz ? "under" : "over"
    }
    if (tb["delta"] > tb["patch"])
      printf "  note: with the static delta bulwark-update transferred %.2f x the plain patch pull\n",
        tb["delta"] / tb["patch"]
    if (to["delta"] > to["patch"])
      printf "  note: with the static delta ostree transferred %.2f x the plain patch pull\n", to["delta"] / to["patch"]
    if (miss) printf "%d target(s) missed\n", miss
    exit strict && miss ? 1 : 0
  }' "$RESULTS" "$PHASES" >"$T/report" || status=$?

echo
echo "What run 1 fetched, by kind of request:"
for s in full patch delta; do
  for u in bulwark ostree; do
    echo "  $s, $([ "$u" = bulwark ] && echo bulwark-update || echo ostree):"
    breakdown "$T/runs/$s.$u.1.requests"
  done
done

echo
echo "Raw figures (scenario updater run bytes requests total_ns fetch_ns deploy_ns peak_rss_kib):"
sed 's/^/  /' "$RESULTS"
echo "bulwark-update's phases (scenario run check_ns download_ns):"
sed 's/^/  /' "$PHASES"

echo
echo "Update transfer: bulwark-update vs ostree $(ostree --version | awk -F"'" '/Version/ { print $2; exit }')" \
  "CLI, $n runs each per scenario, order alternating; served by nginx on loopback"
echo "Host: $(uname -sr), $(nproc) CPU(s); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "Tree v1: $tree_files files, $((tree_bytes / 1000)) kB ($(wc -l <"$T/binaries") binaries from /usr/bin and /usr/sbin," \
  "$RANDOM_FILES x $RANDOM_KB KiB random, the fixture's base); archive objects $((repo_v1_bytes / 1000)) kB"
echo "Changed in v2: $CHANGED ($changed_size bytes, 16 x 256 bytes overwritten);" \
  "gzip -6: $changed_gzip bytes; its .filez object: $changed_filez bytes"
echo "Static delta v1 -> v2: $delta_parts file(s), $delta_bytes bytes in deltas/; made by $delta_made_by"
echo
cat "$T/report"
exit "${status:-0}"
