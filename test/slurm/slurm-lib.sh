# test/slurm/slurm-lib.sh: shell functions shared by slurm-up and slurm-down
# (messages, tool checks, clocks, free ports, and the processes of one DIR).
# Sourced, never run. Names start with fxs_.
# shellcheck shell=bash

fxs_die() {
  echo "slurm: error: $*" >&2
  exit 1
}

# fxs_die_log MESSAGE LOG...: dies naming the logs to read, with their tails.
fxs_die_log() {
  local msg=$1 log
  shift
  echo "slurm: error: $msg" >&2
  for log in "$@"; do
    [ -s "$log" ] || continue
    echo "slurm: read $log; its last lines:" >&2
    tail -n 15 "$log" | sed 's/^/    /' >&2
  done
  exit 1
}

# Every command these scripts or the tests run, with the package that has it.
fxs_need_tools() {
  local pair tool pkg missing=() pkgs=()
  for pair in munged:munge mungekey:munge munge:munge unmunge:munge \
    slurmctld:slurmctld slurmd:slurmd slurmstepd:slurmd \
    sinfo:slurm-client sbatch:slurm-client squeue:slurm-client scancel:slurm-client \
    sacct:slurm-client scontrol:slurm-client srun:slurm-client \
    python3:python3 setsid:util-linux timeout:coreutils; do
    tool=${pair%%:*}
    pkg=${pair#*:}
    command -v "$tool" > /dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$tool" > /dev/null 2>&1 && continue
    missing+=("$tool")
    case " ${pkgs[*]} " in *" $pkg "*) ;; *) pkgs+=("$pkg") ;; esac
  done
  if [ ${#missing[@]} -gt 0 ]; then
    fxs_die "not installed: ${missing[*]}; they come with the Debian packages ${pkgs[*]}: apt-get install --no-install-recommends ${pkgs[*]}"
  fi
  case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac
}

fxs_now_ms() { date +%s%3N; }

# Debian's python3, never a pyenv shim found first on PATH (2 s a start here).
FXS_PY=/usr/bin/python3
[ -x "$FXS_PY" ] || FXS_PY=python3

# fxs_free_ports N: N distinct free TCP ports of 127.0.0.1 on one line.
fxs_free_ports() {
  "$FXS_PY" -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# fxs_stat_field PID N: field N (3 = state, 4 = ppid) of /proc/PID/stat.
fxs_stat_field() {
  local s fields
  s=$(cat "/proc/$1/stat" 2> /dev/null) || return 1
  read -ra fields <<< "${s##*) }" # fields[0] is field 3
  echo "${fields[$(($2 - 3))]}"
}

# fxs_pid_alive PID [DIR]: PID runs (a zombie does not count) and, given
# DIR, its command line names DIR (so a reused pid is never taken for ours).
fxs_pid_alive() {
  local pid=$1 dir=${2:-} state
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  state=$(fxs_stat_field "$pid" 3) || return 1
  [ "$state" != Z ] && [ "$state" != X ] || return 1
  [ -z "$dir" ] || tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -qF "$dir/"
}

# fxs_pid_of DIR NAME: the last pid recorded for NAME in DIR/pids.
fxs_pid_of() {
  awk -v n="$2" '$1 == n { p = $2 } END { print p }' "$1/pids" 2> /dev/null
}

# fxs_any_alive DIR: some daemon listed in DIR/pids still runs.
fxs_any_alive() {
  local _name pid
  while read -r _name pid; do
    fxs_pid_alive "$pid" "$1" && return 0
  done < "$1/pids"
  return 1
}


# fxs_job_pids DIR: pids of this Slurm's job steps and everything under them:
# each slurmstepd holding a file in DIR open (its log), their descendants,
# and any process whose environment names DIR/slurm.conf and a job id (a job
# process whose slurmstepd is gone). Never this shell or its parents; never a
# zombie. One pass over /proc in Python (a fork per process is slow here).
fxs_job_pids() {
  "$FXS_PY" - "$1" "$$" <<'PY'
import os, sys
d, me = sys.argv[1], int(sys.argv[2])
conf = ("SLURM_CONF=%s/slurm.conf" % d).encode()
ppid, ours = {}, set()
def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""
for name in os.listdir("/proc"):
    if not name.isdigit():
        continue
    pid = int(name)
    stat = read("/proc/%d/stat" % pid).rsplit(b")", 1)
    if len(stat) != 2:
        continue
    fields = stat[1].split()
    if fields[0] in (b"Z", b"X"):
        continue
    ppid[pid] = int(fields[1])
    if read("/proc/%d/comm" % pid).strip() == b"slurmstepd":
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            fds = []
        for fd in fds:
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if target.startswith(d + "/"):
                ours.add(pid)
                break
    else:
        env = read("/proc/%d/environ" % pid).split(b"\0")
        if conf in env and any(e.startswith(b"SLURM_JOB_ID=") for e in env):
            ours.add(pid)
added = True
while added:
    added = False
    for pid, parent in ppid.items():
        if pid not in ours and parent in ours:
            ours.add(pid)
            added = True
p = me
while p > 1:
    ours.discard(p)
    p = ppid.get(p, 0)
print(" ".join(str(p) for p in sorted(ours)))
PY
}

# fxs_describe PID...: "pid(name) ..." for messages.
fxs_describe() {
  local pid out=()
  for pid in "$@"; do out+=("$pid($(cat "/proc/$pid/comm" 2> /dev/null || echo gone))"); done
  echo "${out[*]}"
}

# fxs_stop BOUND_S PID...: TERM, then KILL whatever still runs after BOUND_S
# seconds. Prints the pids that survived KILL (should be none).
fxs_stop() {
  local bound=$1 pid left end
  shift
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2> /dev/null || true
  kill -CONT "$@" 2> /dev/null || true # one a test left stopped
  end=$(($(fxs_now_ms) + bound * 1000))
  while :; do
    left=()
    for pid in "$@"; do fxs_pid_alive "$pid" && left+=("$pid"); done
    [ ${#left[@]} -gt 0 ] || return 0
    [ "$(fxs_now_ms)" -lt $end ] || break
    sleep 0.05
  done
  echo "slurm: still running ${bound}s after SIGTERM, sending SIGKILL: $(fxs_describe "${left[@]}")" >&2
  kill -KILL "${left[@]}" 2> /dev/null || true
  end=$(($(fxs_now_ms) + 5000))
  while [ "$(fxs_now_ms)" -lt $end ]; do
    local still=()
    for pid in "${left[@]}"; do fxs_pid_alive "$pid" && still+=("$pid"); done
    [ ${#still[@]} -gt 0 ] || return 0
    left=("${still[@]}")
    sleep 0.05
  done
  echo "${left[@]}"
}
