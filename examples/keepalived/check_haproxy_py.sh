#!/bin/sh
# keepalived's vrrp_script for haproxy-py: asks the master CLI whether the current workers
# are up, and says so by its exit status (keepalived only looks at that).
#
#   check_haproxy_py.sh [MASTER_SOCKET] [MIN_WORKERS]
#
# MASTER_SOCKET defaults to /run/haproxy-py-master.sock (the packaged unit's -S), MIN_WORKERS
# to 1. Exit status:
#   0  the master answered `show proc` and lists at least MIN_WORKERS current workers
#   1  the master answered, but with fewer current workers (none started yet, or all died)
#   2  the master CLI did not answer (haproxy-py is stopped, or the socket is wrong)
#   3  this script cannot run (bad arguments, socat missing)
# One line on stderr says why when the status is not 0 (keepalived logs it with -D).
#
# Old workers still finishing their connections after a reload are listed under
# "# old workers" by `show proc`; they do not count: the node must be able to take new
# connections. The master must be reachable, so this runs as root (the socket is root's).
set -u

socket=${1:-/run/haproxy-py-master.sock}
min_workers=${2:-1}

case $min_workers in
    '' | *[!0-9]*) echo "check_haproxy_py: MIN_WORKERS must be a number, not '$min_workers'" >&2; exit 3 ;;
esac
if ! command -v socat >/dev/null 2>&1; then
    echo "check_haproxy_py: socat is not installed" >&2
    exit 3
fi

# During a reload the master re-executes itself: its listening socket stays open, and a
# question asked then is answered once the new master has resumed, usually within half a
# second, later on a busy machine. So each try waits up to 2 s for the answer (-t: after the
# question is sent; -T: of silence), and a closed connection or a refusal is tried again
# twice, 0.3 s apart. A master that is gone refuses at
# once (status 2 within a second); a hung one takes longer than keepalived's `timeout` and is
# killed, which keepalived counts as a failure too.
answer=
for try in 1 2 3; do
    answer=$(echo "show proc" | socat -t 2 -T 2 stdio "UNIX-CONNECT:$socket" 2>/dev/null) || answer=
    [ -n "$answer" ] && break
    [ "$try" -lt 3 ] && sleep 0.3
done
if [ -z "$answer" ]; then
    echo "check_haproxy_py: no answer from the master CLI at $socket" >&2
    exit 2
fi

# The current workers are the rows between the "# workers" line and the next "#" line.
workers=$(printf '%s\n' "$answer" | awk '
    /^# workers/ { current = 1; next }
    /^#/         { current = 0; next }
    current && $2 == "worker" { n++ }
    END { print n + 0 }')

if [ "$workers" -lt "$min_workers" ]; then
    echo "check_haproxy_py: $workers current worker(s) at $socket, $min_workers needed" >&2
    exit 1
fi
exit 0
