#!/usr/bin/env bash
# A HylaFAX 6.0 lab on loopback without hardware: faxq, hfaxd, and two
# iaxmodem soft modems (ttyFN0, ttyFN1) that dial each other directly, each
# with its faxgetty. Everything runs from a private copy of the spool in DIR
# (no bind mounts), every daemon's pid is kept in DIR/pids, and `stop` ends
# them by those pids and removes what `start` put outside DIR.
#
#   lab.sh install                             (as root) the Debian packages, when missing
#   lab.sh start DIR [HFAXD_PORT [IAX_PORT]]   (as root; waits until both modems are ready)
#   lab.sh dispatched DIR JOB                  wait until faxq has taken job JOB off its ready queue
#   lab.sh stop-modem DIR N                    stop modem N's faxgetty and iaxmodem
#   lab.sh stop DIR
#
# HylaFAX logs only to syslog. Where nothing listens on /dev/log (CI's
# containers) and python3 is there, the lab listens itself while it runs:
# faxq's, hfaxd's and faxgetty's traces go to DIR/syslog.log, each line
# stamped in milliseconds (syslog's own stamp has whole seconds).
#
# Needs: hylafax-server hylafax-client iaxmodem ghostscript (Debian packages).
set -euo pipefail

packages="hylafax-server hylafax-client iaxmodem ghostscript"
if [ "${1:-}" = install ]; then
  missing=$(for p in $packages; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
    grep -q '^install ok installed' || echo "$p"; done)
  [ -z "$missing" ] && exit 0
  echo "lab.sh: installing" $missing
  # The post-install scripts complain about systemd and inetd on machines
  # without them; that is harmless here (the lab starts the daemons itself).
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 ||
    apt-get install -y --no-install-recommends $missing
  exit 0
fi

cmd=${1:?usage: lab.sh install|start|stop|stop-modem DIR ...}
dir=${2:?usage: lab.sh start|stop|stop-modem DIR ...}
# Which lab is running, so that one a killed run left behind is stopped first.
current=/run/faxnotify-hylafax-lab
spool="$dir/spool"
pids="$dir/pids"
# Modem names; the iaxmodem configs must live in /etc/iaxmodem (it has no other place).
modem() { echo "ttyFN$1"; }

alive() { # pid program: running (not a zombie) and still that program
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  case "$stat" in *") Z "*) return 1 ;; esac
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

descendants() { # pid: its children, grandchildren, ... (by pid)
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}

stop_pid() { # name [program]: TERM, then KILL if it is still there after 5 s
  local file="$pids/$1" pid program=${2:-${1%[01]}} others
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  # Checked by name too: the pid of a lab left long ago may be another program's now.
  if alive "$pid" "$program"; then
    # hfaxd serves each connection from a child; faxq sends from a faxsend
    # below a child of its own. A faxsend left running would go on using the
    # next lab's modem of the same name.
    others=$(descendants "$pid")
    [ -n "$others" ] && kill -KILL $others 2>/dev/null
    kill -TERM "$pid" 2>/dev/null || true
    # A zombie counts as gone (whoever adopted it reaps it in its own time).
    for _ in $(seq 50); do alive "$pid" "$program" || break; sleep 0.1; done
    alive "$pid" "$program" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

clear_locks() {
  # HylaFAX's UUCP locks of the lab's modems (/var/lock/LCK..ttyFN0) hold the
  # pid of their taker. Called when no daemon of this lab runs, so any such
  # lock is a stopped lab's: stale, but while its pid is a zombie nobody
  # reaped yet (or another process's by reuse) faxq takes it for live, cannot
  # lock the modem and leaves jobs "waiting for modem" while the modem idles.
  for i in 0 1; do rm -f "/var/lock/LCK..$(modem $i)"; done
}

run() { # name command...: start in the background, keep the pid
  local name=$1; shift
  "$@" >"$dir/$name.log" 2>&1 &
  echo $! >"$pids/$name"
}

# The syslog listener (see the top): stamps and appends each datagram.
syslog_listener='
import os, socket, sys, time
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
with open(out, "ab", buffering=0) as f:
    while True:
        data = s.recv(65536).rstrip(b"\n")
        t = time.time()
        stamp = time.strftime("%H:%M:%S", time.gmtime(t)) + ".%03d " % (int(t * 1000) % 1000)
        f.write(stamp.encode() + data + b"\n")
'

start_syslog() {
  [ -e /dev/log ] && return 0
  command -v python3 >/dev/null || return 0
  run syslogd python3 -c "$syslog_listener" /dev/log "$dir/syslog.log"
  for _ in $(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done
  # Stopped by its own program name (python3 runs as python3.N).
  cat "/proc/$(cat "$pids/syslogd")/comm" >"$pids/syslogd.comm"
  touch "$dir/dev-log-is-ours"
}

stop_syslog() {
  [ -f "$pids/syslogd.comm" ] && stop_pid syslogd "$(cat "$pids/syslogd.comm")"
  rm -f "$pids/syslogd.comm"
  if [ -f "$dir/dev-log-is-ours" ]; then rm -f /dev/log "$dir/dev-log-is-ours"; fi
}

case "$cmd" in
start)
  hfaxd_port=${3:-14559}
  iax_port=${4:-14570}
  if [ -f "$current" ] && [ "$(cat "$current")" != "$dir" ]; then
    echo "lab.sh: stopping the lab a killed run left in $(cat "$current")" >&2
    "$0" stop "$(cat "$current")"
  fi
  clear_locks
  mkdir -p "$pids"
  echo "$dir" >"$current"
  cp -a /var/spool/hylafax "$spool"
  cp -a /etc/hylafax/. "$spool/etc/"
  # faxsend (root) would create log/seqf 0600 root; faxgetty (uucp) then cannot receive.
  install -o uucp -g uucp -m 600 /dev/null "$spool/log/seqf"
  mkdir -p /etc/iaxmodem
  for i in 0 1; do
    m=$(modem $i)
    cat >"/etc/iaxmodem/$m" <<EOF
device /dev/$m
owner uucp:uucp
mode 660
port $((iax_port + i))
refresh 0
server 127.0.0.1:$((iax_port + 1 - i))
peername iax$i
secret x
cidname Modem $i
cidnumber 555000$i
codec slinear
EOF
    cp /usr/share/doc/iaxmodem/examples/config.ttyIAX "$spool/etc/config.$m"
  done
  # A send that gets no answer fails after one try within ~25 s.
  echo "ModemDialResponseTimeout: 15000" >>"$spool/etc/config.$(modem 0)"
  # Traces (when syslog.log is kept): faxq's server operation, state changes,
  # queue and job management and FIFO messages; hfaxd's and faxgetty's
  # operation and state changes (not the example's 0xFFF: modem I/O traces
  # slow a modem down).
  echo "ServerTracing: 0x04b01" >>"$spool/etc/config"
  for i in 0 1; do echo "ServerTracing: 0x08101" >>"$spool/etc/config.$(modem $i)"; done
  start_syslog
  for i in 0 1; do run "iaxmodem$i" iaxmodem "$(modem $i)"; done
  for _ in $(seq 100); do [ -e "/dev/$(modem 0)" ] && [ -e "/dev/$(modem 1)" ] && break; sleep 0.1; done
  cd "$spool"
  run faxq faxq -q "$spool" -D
  # faxgetty announces its modem to faxq's FIFO as it starts ("+ttyFN0:N...");
  # started before faxq listens, that message would be lost.
  for _ in $(seq 100); do [ -p "$spool/FIFO" ] && break; sleep 0.1; done
  if [ ! -p "$spool/FIFO" ]; then
    echo "lab.sh: faxq did not open its FIFO within 10 s (see $dir/faxq.log)" >&2
    exit 1
  fi
  run hfaxd hfaxd -q "$spool" -d -i "$hfaxd_port"
  for i in 0 1; do run "faxgetty$i" faxgetty -q "$spool" "$(modem $i)"; done
  for _ in $(seq 600); do
    if grep -qs "Running and idle" "$spool/status/$(modem 0)" &&
      grep -qs "Running and idle" "$spool/status/$(modem 1)"; then
      echo "lab.sh: HylaFAX is up: hfaxd on 127.0.0.1:$hfaxd_port, modems $(modem 0) and $(modem 1) ready"
      exit 0
    fi
    sleep 0.1
  done
  echo "lab.sh: the modems did not come ready within 60 s" >&2
  exit 1
  ;;
dispatched)
  # faxq 6.0.7 can lose the poke that should run its scheduler for a new job:
  # SchedTimeout::start runs at most once per wall-clock second, and after a
  # poke deferred by a second while a run was pending (two modems reporting
  # ready in the same second, as at start) its `pending` flag stays set, so a
  # poke after that deferred run but within its second starts no timer at
  # all. Nothing else pokes faxq while the lab idles: the job stays ready
  # ("W" in faxstat, q-file state 5) with both modems "Running and idle" and
  # no UUCP lock. Seen with faxq's tracing: both modems READY at 10:18:20.0,
  # "SUBMIT JOB 1" at 10:18:21.6, then no "Picking next job" for the 60 s the
  # test waited; and made to happen at will by submitting ~1.2 s after both
  # modems came ready (READY at 46.30, SUBMIT at 47.57: still ready 8 s
  # later; one "S1" here and faxq ran the job at once).
  # So while the q-file says ready (5), resubmit the job through faxq's FIFO
  # ("S<job>": for a job faxq knows this only pokes its scheduler, posting
  # no event), once a second: a poke in a later second than the lost one
  # always starts a run. A job that has left sendq has been taken.
  job=${3:?which job}
  qfile="$spool/sendq/q$job"
  for n in $(seq 60); do
    state=$(sed -n 's/^state://p' "$qfile" 2>/dev/null || true)
    if [ "$state" != 5 ]; then
      # faxq's own poke runs it within ~1 s; later means one was lost.
      [ "$n" -gt 3 ] && echo "lab.sh: faxq took job $job after $((n - 1)) pokes" >&2
      exit 0
    fi
    alive "$(cat "$pids/faxq")" faxq || { echo "lab.sh: faxq is not running" >&2; exit 1; }
    # NUL-terminated: faxq splits what it reads from its FIFO at NULs.
    printf 'S%s\0' "$job" >"$spool/FIFO"
    sleep 1
  done
  echo "lab.sh: faxq left job $job ready for 60 s ($qfile: $(tr '\n' ' ' <"$qfile"))" >&2
  exit 1
  ;;
stop-modem)
  n=${3:?which modem}
  stop_pid "faxgetty$n"
  stop_pid "iaxmodem$n"
  ;;
stop)
  for name in faxgetty0 faxgetty1 hfaxd faxq iaxmodem0 iaxmodem1; do stop_pid "$name"; done
  stop_syslog
  clear_locks
  for i in 0 1; do
    rm -f "/etc/iaxmodem/$(modem $i)"
    # iaxmodem removes its tty link on a clean exit; not after KILL.
    [ -L "/dev/$(modem $i)" ] && rm -f "/dev/$(modem $i)"
  done
  [ "$(cat "$current" 2>/dev/null)" = "$dir" ] && rm -f "$current"
  true
  ;;
*)
  echo "lab.sh: unknown command $cmd" >&2
  exit 2
  ;;
esac
