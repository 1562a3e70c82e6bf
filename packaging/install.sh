#!/usr/bin/env bash
# `make install [PREFIX=/usr/local] [DESTDIR=]`: installs haproxy-py from this tree without a
# package manager, in the same layout as the RPM but under PREFIX:
#   $PREFIX/lib/haproxy-py/           a venv holding haproxy-py and its dependencies (pip)
#   $PREFIX/sbin/haproxy-py           symlink to the venv's entry point
#   $PREFIX/share/doc/haproxy-py/     README, LICENSE, OPERATIONS, MIGRATING, examples/
#   $UNITDIR/haproxy-py.service       the unit, its commands pointed at $PREFIX/sbin
#   /etc/haproxy-py/haproxy.cfg, /etc/sysconfig/haproxy-py, /etc/logrotate.d/haproxy-py,
#   /etc/rsyslog.d/49-haproxy-py.conf: only when absent (local changes are kept)
#   /var/lib/haproxy-py               the empty chroot, mode 0
# everything under DESTDIR when it is set (staging: the files name the final paths, not
# DESTDIR). Running it again upgrades haproxy-py in place and changes nothing else.
# With an empty DESTDIR, as root, it also creates the haproxy-py user and group as the RPM
# does. Needs PyPI (or the pip configuration's index) for the dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

DESTDIR=${1:-}
PREFIX=${2:-/usr/local}
UNITDIR=${UNITDIR:-/etc/systemd/system}
if [ -z "${PYTHON:-}" ]; then
    if [ -x /usr/bin/python3.11 ]; then PYTHON=/usr/bin/python3.11; else PYTHON=python3; fi
fi
case "$PREFIX" in /*) ;; *) echo "make install: PREFIX must be absolute" >&2; exit 1 ;; esac

venv=$PREFIX/lib/haproxy-py
staged=$DESTDIR$venv

if [ ! -x "$staged/bin/python" ]; then
    "$PYTHON" -m venv "$staged"
fi
pip=("$staged/bin/python" -m pip --disable-pip-version-check --quiet)
# The dependencies as setup.cfg asks, then haproxy-py itself rebuilt from this tree every
# time (same version number or not).
"${pip[@]}" install --no-compile --no-warn-script-location .
"${pip[@]}" install --no-compile --no-warn-script-location --force-reinstall --no-deps .

if [ -n "$DESTDIR" ]; then
    # The venv was made and filled at its staged path; it must name its final one.
    grep -rlIZ -e "$staged" "$staged" | xargs -0 -r sed -i -e "s|$staged|$venv|g"
fi
"$staged/bin/python" -m compileall -q -f -j 0 ${DESTDIR:+-s "$DESTDIR"} \
    --invalidation-mode checked-hash "$staged/lib"

install -d "$DESTDIR$PREFIX/sbin"
ln -sfn "$venv/bin/haproxy-py" "$DESTDIR$PREFIX/sbin/haproxy-py"

docdir=$DESTDIR$PREFIX/share/doc/haproxy-py
install -d "$docdir/examples"
install -p -m 0644 README.md LICENSE docs/OPERATIONS.md docs/MIGRATING.md docs/ARCHITECTURE.md \
    "$docdir/"
# The examples tree as it is (keepalived/ included), every file mode 0644 as in the RPM: they
# are documentation; keepalived/README.md says how to install its script as a program.
(cd examples && find . -type f -print0) | while IFS= read -r -d '' f; do
    install -D -p -m 0644 "examples/$f" "$docdir/examples/$f"
done

install -d "$DESTDIR$UNITDIR"
sed -e "s|/usr/sbin/haproxy-py|$PREFIX/sbin/haproxy-py|g" \
    -e "s|file:/usr/share/doc/haproxy-py/|file:$PREFIX/share/doc/haproxy-py/|" \
    packaging/systemd/haproxy-py.service >"$DESTDIR$UNITDIR/haproxy-py.service.new"
chmod 0644 "$DESTDIR$UNITDIR/haproxy-py.service.new"
mv -f "$DESTDIR$UNITDIR/haproxy-py.service.new" "$DESTDIR$UNITDIR/haproxy-py.service"

install_config() { # MODE SOURCE TARGET: like %config(noreplace), an existing file is kept
    if [ -e "$DESTDIR$3" ]; then
        echo "make install: kept $DESTDIR$3 (the packaged version is $2)"
    else
        install -D -p -m "$1" "$2" "$DESTDIR$3"
    fi
}
install_config 0640 examples/systemd-master-worker.cfg /etc/haproxy-py/haproxy.cfg
install_config 0644 packaging/rpm/haproxy-py.sysconfig /etc/sysconfig/haproxy-py
install_config 0644 packaging/rpm/haproxy-py.logrotate /etc/logrotate.d/haproxy-py
install_config 0644 packaging/rpm/haproxy-py.rsyslog /etc/rsyslog.d/49-haproxy-py.conf

install -d "$DESTDIR/var/lib/haproxy-py"
chmod 0000 "$DESTDIR/var/lib/haproxy-py"

if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ]; then
    getent group haproxy-py >/dev/null || groupadd -r haproxy-py
    getent passwd haproxy-py >/dev/null ||
        useradd -r -g haproxy-py -d /var/lib/haproxy-py -s /usr/sbin/nologin \
            -c "haproxy-py load balancer" haproxy-py
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
    fi
fi
echo "make install: haproxy-py is $DESTDIR$PREFIX/sbin/haproxy-py; unit $DESTDIR$UNITDIR/haproxy-py.service"
