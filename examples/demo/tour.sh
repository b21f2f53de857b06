#!/bin/sh
# Runs inside the demo container (busybox sh). Each line says what the
# container tried and what happened; bw-probe prints "ok" or "denied errno=...".
try() {
  label=$1; shift
  printf '  %-46s ' "$label"
  bw-probe "$@" 2>/dev/null | head -n 1
}
echo "Inside the container:"
printf '  %-46s %s\n' "who am I" "$(bw-probe id 2>/dev/null | tr '\n' ' ')"
printf '  %-46s %s\n' "hostname" "$(hostname)"
printf '  %-46s %s\n' "processes I can see" "$(ls /proc | grep -c '^[0-9]')"
printf '  %-46s %s\n' "capabilities" "$(grep CapEff /proc/self/status | tr -s '\t' ' ')"
printf '  %-46s %s\n' "seccomp" "$(grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -s '\t\n' '  ')"
echo "What it may do:"
try "write to /tmp (a tmpfs)"                  write /tmp/hello demo
try "read /etc/hostname"                       read /etc/hostname
echo "What it may not do:"
try "write to its read-only root (/bin/x)"     write /bin/x demo
try "mount a tmpfs"                            mount-tmpfs /tmp
try "raise CAP_SYS_ADMIN"                      raise-cap 21
try "create a user namespace"                  unshare-user
try "write /proc/sys/kernel/hostname"          write /proc/sys/kernel/hostname evil
try "read /proc/timer_list (masked: empty)"      read /proc/timer_list
try "reach the host's loopback (127.0.0.1:22)" connect 127.0.0.1 22
