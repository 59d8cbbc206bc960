#!/bin/sh
# Run by preflight inside a transient unit started with MemoryMax=64M CPUQuota=50%
# TasksMax=64 (systemd-run ... /bin/sh -s, this file on stdin): prints what the kernel
# enforces on that unit (cgroup v2, or v1/hybrid), or "none" for each, after systemd's
# version (the first line of `systemctl --version`, which preflight reads too).
systemctl --version | head -n 1
cg() { sed -n "s/^[0-9]*:\([^:]*,\)\{0,1\}$1\(,[^:]*\)\{0,1\}:\(.*\)$/\3/p" /proc/self/cgroup | head -n1; }
read_or_none() { cut -d' ' -f1 "$1" 2>/dev/null || true; }
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  d=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
  mem=$(read_or_none "$d/memory.max"); cpu=$(read_or_none "$d/cpu.max"); pids=$(read_or_none "$d/pids.max")
else
  mem=$(read_or_none "/sys/fs/cgroup/memory$(cg memory)/memory.limit_in_bytes")
  cpu=$(read_or_none "/sys/fs/cgroup/cpu$(cg cpu)/cpu.cfs_quota_us")
  pids=$(read_or_none "/sys/fs/cgroup/pids$(cg pids)/pids.max")
fi
echo "memory=${mem:-none} cpu=${cpu:-none} pids=${pids:-none}"
