#!/bin/sh
# Creates bundles/web for the `web` example service: a rootfs holding
# busybox (sh, httpd, wget) and a page, and a config.json made by
# `bulwark-run spec` (Bulwark's defaults: read-only root, new namespaces,
# three capabilities, no_new_privs, the default seccomp profile) with the
# command and hostname changed. Neither is kept in git.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
run=${BULWARK_RUN:-$top/build/tools/bulwark-run}
busybox=${BUSYBOX:-/bin/busybox}
bundle=$here/web
rm -rf "$bundle"
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/www"
for d in proc sys dev tmp etc; do mkdir -p "$bundle/rootfs/$d"; done
cp "$busybox" "$bundle/rootfs/bin/busybox"
for applet in sh httpd wget echo; do ln -s busybox "$bundle/rootfs/bin/$applet"; done
echo '<h1>Hello from a Bulwark container</h1>' > "$bundle/rootfs/www/index.html"
"$run" spec --bundle "$bundle"
sed -i \
  -e 's|^\( *\)"sh"$|\1"/bin/sh", "-c", "echo web: serving on 127.0.0.1:8080; exec httpd -f -p 127.0.0.1:8080 -h /www"|' \
  -e 's|"hostname": "bulwark"|"hostname": "web"|' \
  "$bundle/config.json"
echo "created $bundle"
