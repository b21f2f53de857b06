#!/bin/sh
# httpd: a web server and its client. busybox httpd serves a page on
# 127.0.0.1:8080 in the container's own network namespace; nc in the same
# container sends the request and the page is compared with what was written.
# (nc rather than wget: wget polls the socket only when a read would block,
# so its calls would depend on timing.)
set -eu
page="<h1>served by busybox httpd in a Bulwark container</h1>"
mkdir -p /tmp/www
echo "$page" > /tmp/www/index.html
httpd -f -p 127.0.0.1:8080 -h /tmp/www &
server=$!
trap 'kill "$server"' EXIT
# Wait until it listens (127.0.0.1:8080 in state LISTEN). The loop does not
# sleep, so it makes the same calls however many rounds it takes; it gives
# up when the server has died or after 2000 rounds.
n=0
until grep -q '0100007F:1F90 00000000:0000 0A' /proc/net/tcp; do
  kill -0 "$server"
  n=$((n + 1))
  [ "$n" -lt 2000 ]
done
response=$(printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc 127.0.0.1 8080)
case "$response" in
  "HTTP/1."[01]" 200 OK"*) ;;
  *) echo "httpd: unexpected response: $response" >&2; exit 1 ;;
esac
[ "$(echo "$response" | tail -n 1)" = "$page" ]
echo "httpd: ok"
