#!/usr/bin/env bash
# Creates .venv and installs haproxy-py with its test tools, once per change of setup.cfg.
# python-prctl compiles against the libcap headers: they are installed here when we are root,
# otherwise the exact command to run is printed and we stop.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.installed

need_libcap_headers() {
    [ ! -e /usr/include/sys/capability.h ]
}

if need_libcap_headers; then
    if [ -r /etc/os-release ]; then . /etc/os-release; fi
    case " ${ID:-} ${ID_LIKE:-} " in
        *" debian "*|*" ubuntu "*) cmd="apt-get update && apt-get install -y libcap-dev" ;;
        *" rhel "*|*" fedora "*|*" centos "*) cmd="dnf install -y libcap-devel" ;;
        *) cmd="" ;;
    esac
    if [ "$(id -u)" = 0 ] && [ -n "$cmd" ]; then
        echo "ensure-venv: installing the libcap headers python-prctl needs: $cmd"
        sh -c "$cmd" >/dev/null
    else
        echo "ensure-venv: python-prctl needs the libcap headers (sys/capability.h)." >&2
        echo "ensure-venv: run as root: ${cmd:-install the libcap development package of your distribution}" >&2
        exit 1
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ setup.cfg -nt "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e '.[test]'
    touch "$STAMP"
fi
