"""Packaging: the systemd unit, the RPM (`make rpm`), `make install` and examples/.

What is checked, and how honestly:
- the RPM is built once per session by `make rpm` (about 30 s with a warm pip cache), then
  installed into a scratch root (`rpm -i --root DIR --nodeps --noscripts`) for its file
  list, modes and flags; the venv it holds is run from there with its own interpreter link
  (DIR/opt/haproxy-py/bin/python, which uses this machine's /usr/bin/python3.11): that tests
  its contents, not its paths;
- its paths are tested by installing it, scriptlets included, in a throwaway copy-on-write
  view of this machine (an overlay of / with a tmpfs upper layer, in a private mount
  namespace, then chroot): there /usr/sbin/haproxy-py, /opt/haproxy-py and the haproxy-py
  user are real, the unit is checked with `systemd-analyze verify`, and its commands are run
  the way systemd would run them (NOTIFY_SOCKET, ExecReload, SIGTERM);
- tests that need that view (root, mount namespaces, overlayfs) skip with the reason
  elsewhere; the RPM tests skip without rpmbuild, rpmlint's without rpmlint.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from haproxy_py.version import __version__
from tests.e2e.tcp_tools import ask, echo_servers
from tests.e2e.test_serve_tcp import serving
from tests.helpers import free_port, haproxy_py_command

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "packaging" / "systemd" / "haproxy-py.service"
RPMLINTRC = REPO / "packaging" / "rpm" / "haproxy-py.rpmlintrc"
EXAMPLES = sorted((REPO / "examples").glob("*.cfg"))
# Every file under examples/ (keepalived/ included), relative to it.
EXAMPLE_FILES = sorted(
    str(p.relative_to(REPO / "examples")) for p in (REPO / "examples").rglob("*") if p.is_file()
)
VENV = "/opt/haproxy-py"

# The errors rpmlintrc filters (each explained there); any other error fails the test.
ACCEPTED_RPMLINT_ERRORS = {
    "dir-or-file-in-opt",
    "wrong-script-interpreter",
    "non-executable-script",
    "non-standard-dir-perm",
    "non-readable",
    "logrotate-log-dir-not-packaged",
    "no-signature",
    "no-group-tag",
    "no-packager-tag",
}


def run(cmd: list[str], timeout: float = 300, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


# --- a throwaway view of this machine ------------------------------------------------------

OVERLAY_WRAPPER = r"""
set -eu
base=$1
mount -t tmpfs tmpfs "$base"
mkdir "$base/upper" "$base/work" "$base/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$base/root"
mount -t proc proc "$base/root/proc"
mount --rbind /dev "$base/root/dev"
mount -t tmpfs tmpfs "$base/root/run"
mkdir -p "$base/root$REPO"
mount --bind "$REPO" "$base/root$REPO"
exec chroot "$base/root" /bin/bash -euc "$SCRIPT"
"""


def _overlay_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (mount namespace, overlayfs, chroot)"
    for tool in ("unshare", "chroot", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@pytest.fixture(scope="module")
def overlay(tmp_path_factory: pytest.TempPathFactory):
    """run(script) -> CompletedProcess: bash `script` as root in a copy-on-write view of this
    machine (writes vanish with the mount namespace), or skip with the reason."""
    reason = _overlay_unavailable()
    if reason:
        pytest.skip(reason)
    counter = iter(range(1000))

    def run_script(script: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        base = tmp_path_factory.mktemp(f"overlay{next(counter)}")
        env = {**os.environ, "SCRIPT": script, "REPO": str(REPO)}
        env.pop("NOTIFY_SOCKET", None)
        return run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "bash",
                "-c",
                OVERLAY_WRAPPER,
                "overlay",
                str(base),
            ],
            timeout=timeout,
            env=env,
        )

    probe = run_script("test -d /proc/self && echo ok")
    if probe.stdout.strip() != "ok":
        pytest.skip(f"no overlay of / here (container limits?): {probe.stderr.strip()[-300:]}")
    return run_script


# --- the unit ---------------------------------------------------------------------------------


def unit_settings(text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith(("#", "[")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key, []).append(value)
    return settings


def test_unit_file_says_what_the_issue_asks() -> None:
    s = unit_settings(UNIT.read_text())
    assert s["Type"] == ["notify"]
    assert s["Environment"] == [
        '"CONFIG=/etc/haproxy-py/haproxy.cfg" "PIDFILE=/run/haproxy-py.pid"'
    ]
    assert s["EnvironmentFile"] == ["-/etc/sysconfig/haproxy-py"]
    assert s["ExecStartPre"] == ["/usr/sbin/haproxy-py -f $CONFIG -c -q $OPTIONS"]
    assert s["ExecStart"] == [
        "/usr/sbin/haproxy-py -Ws -f $CONFIG -p $PIDFILE -S /run/haproxy-py-master.sock $OPTIONS"
    ]
    assert s["ExecReload"] == [
        "/usr/sbin/haproxy-py -f $CONFIG -c -q $OPTIONS",
        "/bin/kill -USR2 $MAINPID",
    ]
    assert s["KillMode"] == ["mixed"]
    assert s["Restart"] == ["always"]
    assert s["SuccessExitStatus"] == ["143"]
    assert s["ProtectSystem"] == ["full"]
    # Left out on purpose (the workers set no-new-privs themselves), and said why.
    assert "NoNewPrivileges" not in s
    assert "NoNewPrivileges is NOT set" in UNIT.read_text()


def test_unit_passes_systemd_analyze_verify(overlay) -> None:
    """The unit as it is in the tree, with /usr/sbin/haproxy-py being this tree's program."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    program = haproxy_py_command()[0]
    if not os.access(program, os.X_OK) or not program.startswith("/"):
        pytest.skip("no haproxy-py console script to stand for /usr/sbin/haproxy-py")
    result = overlay(
        f"ln -sfn {shlex.quote(program)} /usr/sbin/haproxy-py\n"
        f"cp {shlex.quote(str(UNIT))} /etc/systemd/system/haproxy-py.service\n"
        "systemd-analyze verify /etc/systemd/system/haproxy-py.service\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


# --- the RPM ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rpm_file() -> Path:
    if shutil.which("rpmbuild") is None:
        pytest.skip("rpmbuild is not installed (Debian: apt-get install rpm)")
    if not os.access("/usr/bin/python3.11", os.X_OK):
        pytest.skip("/usr/bin/python3.11, the interpreter the RPM is made for, is missing")
    result = run(["make", "-s", "rpm"], cwd=REPO, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    built = sorted((REPO / "build" / "rpm" / "RPMS").glob(f"*/haproxy-py-{__version__}-*.rpm"))
    assert len(built) == 1, built
    return built[0]


@pytest.fixture(scope="module")
def scratch_root(rpm_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rpmroot")
    result = run(["rpm", "-i", "--root", str(root), "--nodeps", "--noscripts", str(rpm_file)])
    assert result.returncode == 0, result.stderr
    return root


def query(rpm_file: Path, fmt: str) -> list[str]:
    result = run(["rpm", "-qp", "--queryformat", fmt, str(rpm_file)])
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_rpm_file_list_modes_and_flags(rpm_file: Path, scratch_root: Path) -> None:
    listed = dict(
        line.split(" ", 1)[::-1] for line in query(rpm_file, "[%{FILEFLAGS:fflags} %{FILENAMES}\n]")
    )
    for path in (
        "/usr/sbin/haproxy-py",
        "/usr/lib/systemd/system/haproxy-py.service",
        f"{VENV}/bin/haproxy-py",
        f"{VENV}/pyvenv.cfg",
        "/var/lib/haproxy-py",
        "/usr/share/licenses/haproxy-py/LICENSE",
        "/usr/share/doc/haproxy-py/OPERATIONS.md",
        *(f"/usr/share/doc/haproxy-py/examples/{name}" for name in EXAMPLE_FILES),
    ):
        assert path in listed, path
    # %config(noreplace): "c" and "n" among the flags.
    for conf in (
        "/etc/haproxy-py/haproxy.cfg",
        "/etc/sysconfig/haproxy-py",
        "/etc/logrotate.d/haproxy-py",
        "/etc/rsyslog.d/49-haproxy-py.conf",
    ):
        assert set("cn") <= set(listed[conf]), (conf, listed[conf])
    # Nothing leaked from the build machine, nothing outside the expected places.
    assert not [p for p in listed if "BUILDROOT" in p or p.startswith(("/root", "/home"))]
    assert not [p for p in listed if p.startswith("/usr/lib/python")]

    root = scratch_root
    sbin = root / "usr/sbin/haproxy-py"
    assert sbin.is_symlink()
    target = (sbin.parent / os.readlink(sbin)).resolve()
    assert target == (root / "opt/haproxy-py/bin/haproxy-py").resolve()
    assert target.stat().st_mode & 0o111 == 0o111
    assert target.read_text().splitlines()[0] == f"#!{VENV}/bin/python"
    assert os.readlink(root / "opt/haproxy-py/bin/python3.11") == "/usr/bin/python3.11"

    chroot_dir = (root / "var/lib/haproxy-py").lstat()
    assert stat.S_ISDIR(chroot_dir.st_mode)
    assert stat.S_IMODE(chroot_dir.st_mode) == 0
    assert not os.listdir(root / "var/lib/haproxy-py")
    assert stat.S_IMODE((root / "etc/haproxy-py/haproxy.cfg").stat().st_mode) == 0o640
    # The examples are documentation, not programs: none executable (see the spec's %prep).
    examples = root / "usr/share/doc/haproxy-py/examples"
    modes = {
        str(p.relative_to(examples)): stat.S_IMODE(p.stat().st_mode) for p in examples.rglob("*")
    }
    assert {name: modes.get(name) for name in EXAMPLE_FILES} == dict.fromkeys(EXAMPLE_FILES, 0o644)
    unit = (root / "usr/lib/systemd/system/haproxy-py.service").read_text()
    assert unit == UNIT.read_text()

    pyvenv = (root / "opt/haproxy-py/pyvenv.cfg").read_text()
    assert "home = /usr/bin\n" in pyvenv
    assert "executable = /usr/bin/python3.11\n" in pyvenv
    leaked = run(["grep", "-rlI", "-e", "BUILDROOT", "-e", str(REPO), str(root / "opt")])
    assert leaked.stdout == "", leaked.stdout


def test_rpm_requires_nothing_it_bundles(rpm_file: Path) -> None:
    requires = query(rpm_file, "[%{REQUIRES}\n]")
    assert "/usr/bin/python3.11" in requires
    assert not [r for r in requires if "dist(" in r], requires
    provides = query(rpm_file, "[%{PROVIDES}\n]")
    assert not [p for p in provides if ".so" in p], provides


def test_rpm_venv_contents_run(scratch_root: Path) -> None:
    """The installed venv, run through its own interpreter link from the scratch root: its
    code and its compiled dependencies are what run (not this tree's)."""
    python = str(scratch_root / "opt/haproxy-py/bin/python")
    site = scratch_root / "opt/haproxy-py/lib/python3.11/site-packages"
    probe = run([python, "-I", "-c", "import master, prctl, psutil, trio; print(master.__file__)"])
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().startswith(str(site))
    version = run([python, "-I", str(scratch_root / "opt/haproxy-py/bin/haproxy-py"), "-v"])
    assert version.returncode == 0, version.stderr
    assert f"haproxy-py {__version__}" in version.stdout


def test_rpmlint_has_no_errors(rpm_file: Path) -> None:
    if shutil.which("rpmlint") is None:
        pytest.skip("rpmlint is not installed (Debian: apt-get install rpmlint)")
    filtered = run(["rpmlint", "-r", str(RPMLINTRC), str(rpm_file)])
    assert " 0 errors," in filtered.stdout, filtered.stdout[-4000:]
    raw = run(["rpmlint", str(rpm_file)])
    kinds = set(re.findall(r"^\S+: E: (\S+)", raw.stdout, re.MULTILINE))
    assert kinds <= ACCEPTED_RPMLINT_ERRORS, kinds - ACCEPTED_RPMLINT_ERRORS


LIVE_SCRIPT = r"""
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
rpm -i --nodeps "$RPM" 2>&1 | grep -v 'should not be used directly\|assuming you know' || true
echo "user: $(getent passwd haproxy-py | cut -d: -f1,6,7)"
echo "group: $(getent group haproxy-py | cut -d: -f1)"
/usr/sbin/haproxy-py -v | head -1
/usr/sbin/haproxy-py -c -f /etc/haproxy-py/haproxy.cfg && echo "default config: valid"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify /usr/lib/systemd/system/haproxy-py.service && echo "verify: ok"
fi

# The unit's commands, as systemd runs them, on the packaged configuration moved to test ports
# (the way /etc/sysconfig/haproxy-py's CONFIG would point elsewhere).
sed -e "s/bind :80/bind 127.0.0.1:$FRONT/" -e "s/127.0.0.1:8080/127.0.0.1:$BACK/" \
    /etc/haproxy-py/haproxy.cfg > /etc/haproxy-py/test.cfg
export CONFIG=/etc/haproxy-py/test.cfg PIDFILE=/run/haproxy-py.pid OPTIONS=
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind("/run/notify.sock")
print("listening", flush=True)
while True:
    print(s.recv(4096).decode().replace("\n", " "), file=open("/run/notify.log", "a"), flush=True)
' > /run/notify.ready &
python3 -m http.server --bind 127.0.0.1 "$BACK" --directory /usr/share/doc/haproxy-py \
    >/dev/null 2>&1 &
for _ in $(seq 50); do [ -s /run/notify.ready ] && break; sleep 0.1; done
eval "$START_PRE" && echo "ExecStartPre: ok"
(export NOTIFY_SOCKET=/run/notify.sock; eval "exec $START") > /run/master.log 2>&1 &
MAINPID=$!
notified() { tr '\n' ' ' < /run/notify.log; }
for _ in $(seq 100); do grep -qs READY=1 /run/notify.log && break; sleep 0.1; done
echo "notified: $(notified)"
curl -s -o /dev/null -w "proxied: %{http_code}\n" "http://127.0.0.1:$FRONT/OPERATIONS.md"
for pid in $(pgrep -P $MAINPID); do
    echo "worker: uid=$(stat -c %U /proc/$pid) root=$(readlink /proc/$pid/root)" \
         "$(grep NoNewPrivs /proc/$pid/status | tr -d '\t')"
done
for cmd in "${RELOAD[@]}"; do eval "$cmd"; done && echo "ExecReload: ok"
for _ in $(seq 100); do
    [ "$(grep -c READY=1 /run/notify.log)" -ge 2 ] && break; sleep 0.1
done
echo "after reload: $(notified)"
# The master CLI answers again 0.1-0.3 s after the reload's READY=1 (it is served only once
# the re-executed master has resumed): asked until it answers, for up to 3 s.
for _ in $(seq 30); do
    shown=$(echo 'show proc' | socat -t 2 stdio /run/haproxy-py-master.sock 2>/dev/null) || shown=
    [ -n "$shown" ] && break; sleep 0.1
done
printf '%s\n' "$shown" | awk '$2 == "master" {print "reloads:", $3}'
curl -s -o /dev/null -w "proxied: %{http_code}\n" "http://127.0.0.1:$FRONT/OPERATIONS.md"
kill -TERM $MAINPID; rc=0; wait $MAINPID || rc=$?
echo "stopped: $rc $(tail -1 /run/notify.log)"
rpm -e haproxy-py && test ! -e /usr/sbin/haproxy-py && echo "erased"
"""


def test_rpm_installed_for_real_serves_under_the_units_commands(rpm_file: Path, overlay) -> None:
    for tool in ("curl", "socat"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    unit = unit_settings(UNIT.read_text())
    # systemd's $VAR expansion of these lines is the shell's for the values used here.
    start_pre, start = unit["ExecStartPre"][0], unit["ExecStart"][0]
    reload_cmds = " ".join(shlex.quote(c) for c in unit["ExecReload"])
    front, back = free_port(), free_port()
    script = (
        f"RPM={shlex.quote(str(rpm_file))} FRONT={front} BACK={back}\n"
        f"START_PRE={shlex.quote(start_pre)} START={shlex.quote(start)}\n"
        f"RELOAD=({reload_cmds})\n" + LIVE_SCRIPT
    )
    result = overlay(script, timeout=240)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "user: haproxy-py:/var/lib/haproxy-py:/sbin/nologin" in out  # from %pre
    assert "group: haproxy-py" in out
    assert f"haproxy-py {__version__}" in out
    assert "default config: valid" in out
    if shutil.which("systemd-analyze"):
        assert "verify: ok" in out, result.stderr
    assert "ExecStartPre: ok" in out
    assert re.search(r"notified: READY=1 MAINPID=\d+", out), out
    assert out.count("proxied: 200") == 2, out
    workers = re.findall(r"worker: uid=(\S+) root=(\S+) NoNewPrivs:(\d)", out)
    assert workers, out
    assert set(workers) == {("haproxy-py", "/var/lib/haproxy-py", "1")}, workers
    assert "ExecReload: ok" in out
    assert re.search(r"after reload: .*RELOADING=1.*READY=1", out), out
    assert "reloads: 1" in out
    assert re.search(r"stopped: (0|143) STOPPING=1", out), out
    assert "erased" in out


# --- make install -----------------------------------------------------------------------------


def make_install(destdir: Path, prefix: str) -> subprocess.CompletedProcess[str]:
    return run(
        ["make", "-s", "install", f"DESTDIR={destdir}", f"PREFIX={prefix}"], cwd=REPO, timeout=600
    )


OWN_PACKAGES = ("haproxy_py", "master", "worker")


def tree(root: Path) -> set[str]:
    """Every path under root but byte-code and haproxy-py's own modules (other helpers may
    add or remove modules in this tree between two installs; own_modules() checks those)."""
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if "__pycache__" not in p.parts
        and not (p.parent.name == "site-packages" and p.name in OWN_PACKAGES)
        and not any(f"site-packages/{name}/" in str(p) for name in OWN_PACKAGES)
    }


def own_modules(base: Path) -> set[str]:
    return {
        str(p.relative_to(base))
        for name in OWN_PACKAGES
        for p in (base / name).rglob("*.py")
        if "__pycache__" not in p.parts
    }


def test_make_install_honours_destdir_and_prefix_and_is_idempotent(tmp_path: Path) -> None:
    staged = tmp_path / "destdir"
    prefix = "/opt/hpy-test"
    first = make_install(staged, prefix)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    venv = staged / prefix.lstrip("/") / "lib/haproxy-py"
    sbin = staged / prefix.lstrip("/") / "sbin/haproxy-py"
    assert os.readlink(sbin) == f"{prefix}/lib/haproxy-py/bin/haproxy-py"
    assert (venv / "bin/haproxy-py").read_text().startswith(f"#!{prefix}/lib/haproxy-py/bin/")
    unit = (staged / "etc/systemd/system/haproxy-py.service").read_text()
    assert f"ExecStart={prefix}/sbin/haproxy-py -Ws " in unit
    assert "/usr/sbin/haproxy-py" not in unit
    assert stat.S_IMODE((staged / "var/lib/haproxy-py").stat().st_mode) == 0
    assert stat.S_IMODE((staged / "etc/haproxy-py/haproxy.cfg").stat().st_mode) == 0o640
    leaked = run(["grep", "-rlI", str(staged), str(staged)])
    assert leaked.stdout == "", leaked.stdout
    version = run([str(venv / "bin/python"), "-I", "-m", "master", "-v"])
    assert version.returncode == 0 and f"haproxy-py {__version__}" in version.stdout
    docdir = staged / prefix.lstrip("/") / "share/doc/haproxy-py"
    assert (docdir / "LICENSE").read_text() == (REPO / "LICENSE").read_text()
    for name in EXAMPLE_FILES:
        installed = docdir / "examples" / name
        assert installed.read_bytes() == (REPO / "examples" / name).read_bytes(), name
        assert stat.S_IMODE(installed.stat().st_mode) == 0o644, name

    # Again, after a local change to the configuration: the same files, the change kept.
    config = staged / "etc/haproxy-py/haproxy.cfg"
    config.write_text(config.read_text() + "# local change\n")
    before = tree(staged)
    second = make_install(staged, prefix)
    assert second.returncode == 0, second.stderr[-2000:]
    assert tree(staged) == before
    # haproxy-py itself is this tree's, module for module: nothing stale, nothing missing.
    site = next(venv.glob("lib/python3*/site-packages"))
    assert own_modules(site) == own_modules(REPO)
    assert config.read_text().endswith("# local change\n")
    assert run(["grep", "-rlI", str(staged), str(staged)]).stdout == ""


# --- examples ---------------------------------------------------------------------------------


def missing_accounts(path: Path) -> tuple[list[str], list[str]]:
    """The `user` and `group` names of a configuration that this machine does not know."""
    text = path.read_text()

    def unknown(keyword: str, database: str) -> list[str]:
        names = re.findall(rf"^\s*{keyword}\s+(\S+)", text, re.MULTILINE)
        return sorted(n for n in set(names) if run(["getent", database, n]).returncode != 0)

    return unknown("user", "passwd"), unknown("group", "group")


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_configuration_is_valid(example: Path, request: pytest.FixtureRequest) -> None:
    command = haproxy_py_command()
    users, groups = missing_accounts(example)
    if not users and not groups:
        result = run([*command, "-c", "-f", str(example)])
        assert result.returncode == 0, result.stdout + result.stderr
        return
    # It names the user and group the RPM creates: check it where they exist, as after %pre.
    overlay = request.getfixturevalue("overlay")
    adds = "".join(f"groupadd -r {g}\n" for g in groups) + "".join(
        f"useradd -r -M -N -s /sbin/nologin {u}\n" for u in users
    )
    quoted = " ".join(shlex.quote(c) for c in command)
    result = overlay(adds + f"{quoted} -c -f {shlex.quote(str(example))}\n")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_examples_the_docs_name_exist() -> None:
    assert {
        "quickstart.cfg",
        "systemd-master-worker.cfg",
        "l4-tcp.cfg",
        "l7-content-switching.cfg",
        "stats-page.cfg",
        "keepalived/README.md",
        "keepalived/keepalived-node1.conf",
        "keepalived/keepalived-node2.conf",
        "keepalived/check_haproxy_py.sh",
    } <= set(EXAMPLE_FILES)
    # The README lists every example configuration.
    readme = (REPO / "README.md").read_text()
    assert [p.name for p in EXAMPLES if p.name not in readme] == []
    assert "examples/keepalived/" in readme


def test_the_guides_scenarios_are_in_the_examples() -> None:
    """What each example is for, in the configuration itself (a -c test cannot tell)."""
    l7 = (REPO / "examples" / "l7-content-switching.cfg").read_text()
    assert re.search(r"^\s+cookie SERVERID insert indirect nocache$", l7, re.MULTILINE)
    assert re.search(r"^\s+server \S+ \S+ cookie \S+ check$", l7, re.MULTILINE)
    assert re.search(r"^\s+option httpchk ", l7, re.MULTILINE)
    stats = (REPO / "examples" / "stats-page.cfg").read_text()
    for line in ("stats enable", "stats uri /stats", "stats auth ", "stats refresh ",
                 "stats admin if LOCALHOST"):  # fmt: skip
        assert f"\n    {line}" in stats, line
    l4 = (REPO / "examples" / "l4-tcp.cfg").read_text()
    assert "\n    mode tcp\n" in l4 and " check" in l4


def test_example_l4_tcp_serves(tmp_path: Path) -> None:
    """l4-tcp.cfg as shipped, its addresses moved to free ports: bytes pass through to both
    servers (leastconn), the backup's absence only marks it down."""
    port = free_port()
    text = (REPO / "examples" / "l4-tcp.cfg").read_text()
    with echo_servers(b"A:", b"B:") as (a, b):
        for old, new in (
            ("bind :5432", f"bind 127.0.0.1:{port}"),
            ("127.0.0.1:5433", f"127.0.0.1:{a.port}"),
            ("127.0.0.1:5434", f"127.0.0.1:{b.port}"),
            ("127.0.0.1:5435", f"127.0.0.1:{free_port()}"),
            ("log 127.0.0.1:514", f"log 127.0.0.1:{free_port()}"),
        ):
            assert old in text, old
            text = text.replace(old, new)
        with serving(tmp_path, text, port):
            answers = {ask(port, b"ping") for _ in range(6)}
    assert answers == {b"A:ping", b"B:ping"}


def test_example_stats_page_serves(tmp_path: Path) -> None:
    """stats-page.cfg as shipped, on free ports, asked with curl: a login is required, and
    the CSV lists the example's backend and servers."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    port, www = free_port(), free_port()
    text = (REPO / "examples" / "stats-page.cfg").read_text()
    text = text.replace("bind :8404", f"bind 127.0.0.1:{port}")
    text = text.replace("bind :8080", f"bind 127.0.0.1:{www}")
    url = f"http://127.0.0.1:{port}/stats"
    with serving(tmp_path, text, port):
        anonymous = run(["curl", "-s", "-i", "--max-time", "5", url])
        csv = run(["curl", "-s", "--max-time", "5", "-u", "admin:change-me", url + ";csv"])
    assert anonymous.stdout.startswith("HTTP/1.1 401"), anonymous.stdout[:300]
    assert 'realm="haproxy-py statistics"' in anonymous.stdout
    assert csv.stdout.startswith("# pxname,svname,"), csv.stdout[:300]
    rows = {tuple(line.split(",")[:2]) for line in csv.stdout.splitlines()}
    assert {("app", "app1"), ("app", "app2"), ("app", "BACKEND")} <= rows
