#!/bin/sh
# hello: a small batch job. It writes files, reads them back, transforms and
# checks them, and cleans up; it exits non-zero when anything differs.
set -eu
dir=/tmp/hello
mkdir -p "$dir"
echo "hello from a Bulwark container" > "$dir/greeting"
i=1
while [ "$i" -le 3 ]; do
  echo "line $i" >> "$dir/greeting"
  i=$((i + 1))
done
cp "$dir/greeting" "$dir/copy"
cmp "$dir/greeting" "$dir/copy"
[ "$(wc -l < "$dir/copy")" -eq 4 ]
grep -q '^line 2$' "$dir/copy"
[ "$(sort -r "$dir/copy" | head -n 1)" = "line 3" ]
[ "$(ls "$dir" | tr '\n' ' ')" = "copy greeting " ]
rm -r "$dir"
[ ! -e "$dir" ]
echo "hello: ok"
