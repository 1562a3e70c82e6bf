#!/usr/bin/env bash
# `make rpm`: builds the haproxy-py binary RPM under build/rpm/.
#
# Two steps, so that rpmbuild never needs the network:
#   1. gather: a source tarball of this tree (Source0), and every wheel the program needs
#      (Source1): haproxy-py's own, built from that tarball, its dependencies from PyPI, pip
#      itself (used from its wheel to fill the venv, and not installed), and python-prctl
#      compiled here from its sdist against the libcap headers (hence one RPM per architecture);
#   2. rpmbuild -bb with _topdir=build/rpm, inside `unshare --net` where that works, which
#      proves the offline claim on every run.
#
# Wheels are built with the interpreter the package will run on (PYTHON311, default
# /usr/bin/python3.11: EL9's AppStream python3.11 and Debian 12's python3.11), so that the
# compiled ones match its ABI. pip's own cache makes a second run fast.
#
# On a machine whose rpm database is not the package manager's (Debian), BuildRequires cannot
# be checked, so rpmbuild gets --nodeps there.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON311=${PYTHON311:-/usr/bin/python3.11}
TOP=$PWD/build/rpm
SPEC=packaging/rpm/haproxy-py.spec

die() {
    echo "make rpm: $*" >&2
    exit 1
}

command -v rpmbuild >/dev/null || die "rpmbuild is missing (Debian: apt-get install rpm; EL9: dnf install rpm-build)"
[ -x "$PYTHON311" ] || die "$PYTHON311 is missing (EL9: dnf install python3.11 python3.11-devel)"
[ -e /usr/include/sys/capability.h ] ||
    die "python-prctl needs the libcap headers (Debian: apt-get install libcap-dev; EL9: dnf install libcap-devel)"

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' haproxy_py/version.py)
[ -n "$version" ] || die "cannot read __version__ from haproxy_py/version.py"
name=haproxy-py-$version

rm -rf "$TOP"
mkdir -p "$TOP"/{SOURCES,SPECS,BUILD,RPMS,SRPMS,gather}

# Source0: the files git knows or would add (tracked, plus untracked ones not ignored), as
# they are in the working tree, so that `make rpm` packages what is checked out and tested.
{ git ls-files -z --cached --others --exclude-standard 2>/dev/null || true; } |
    xargs -0 -r sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh |
    tar --null -T - --transform "s,^,$name/," -czf "$TOP/SOURCES/$name.tar.gz"
listing=$(tar -tzf "$TOP/SOURCES/$name.tar.gz")
grep -qx "$name/$SPEC" <<<"$listing" ||
    die "the source tarball is empty: is this a git checkout?"

# Source1: the wheels. A throwaway venv of the target interpreter runs pip.
"$PYTHON311" -m venv "$TOP/gather/venv"
pip=("$TOP/gather/venv/bin/python" -m pip --disable-pip-version-check --quiet)
tar -xzf "$TOP/SOURCES/$name.tar.gz" -C "$TOP/gather"
mkdir -p "$TOP/gather/wheels"
# python-prctl has no binary wheel on PyPI; --no-binary says we build it from source anyway,
# and --use-pep517 builds it in an isolated environment with its own setuptools and wheel.
"${pip[@]}" wheel --wheel-dir "$TOP/gather/wheels" --use-pep517 --no-binary python-prctl \
    "$TOP/gather/$name" pip
ls "$TOP/gather/wheels"/haproxy_py-"$version"-*.whl >/dev/null ||
    die "pip did not build haproxy-py's wheel"
tar -cf "$TOP/SOURCES/$name-wheels.tar" -C "$TOP/gather" wheels

cp "$SPEC" "$TOP/SPECS/"
rpmbuild_cmd=(rpmbuild -bb --define "_topdir $TOP" --define "hpy_version $version")
rpm -q rpm >/dev/null 2>&1 || rpmbuild_cmd+=(--nodeps)
rpmbuild_cmd+=("$TOP/SPECS/haproxy-py.spec")
if unshare --net true 2>/dev/null; then
    echo "make rpm: rpmbuild runs without network (unshare --net)"
    unshare --net "${rpmbuild_cmd[@]}"
else
    "${rpmbuild_cmd[@]}"
fi
find "$TOP/RPMS" -name '*.rpm' -printf 'make rpm: built %p\n'
