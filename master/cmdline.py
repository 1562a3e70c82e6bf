"""The `haproxy-py` command line: HAProxy's flags, parsed with click.

HAProxy's flags do not follow getopt conventions (`-db`, `-dW`, `-Ws`, `-cc`, `-sf PID...`,
`-dM<opts>`, `-- FILE...`), so `normalize_argv` first rewrites them into forms click parses:
pid lists become repeated options and `--` files become `-f` options. Everything else is
declared as ordinary click options, which also gives a readable `--help`.

What runs today: `-v`, `-vv`, `-cc`, `-c` (with `-q`, `-dW`, `-dD`), `--show-config`,
serving in one process (master/single.py), and master-worker mode (`-W`, `-Ws`, global
`master-worker`: master/supervisor.py) with its master CLI (`-S`), `-D`, and the legacy
hand-over `-x`/`-sf`/`-st` (master/legacy.py).
"""

from __future__ import annotations

import os
import socket
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from haproxy_py.config import LoadResult, load_configuration
from haproxy_py.config.conditions import evaluate_condition
from haproxy_py.config.diagnostics import ConfigError, Severity
from haproxy_py.config.model import Config
from haproxy_py.report import Reporter
from haproxy_py.sample.check import check_rules

if TYPE_CHECKING:
    from master.supervisor import MasterSettings
from master.banner import USAGE, build_banner, version_banner

# Flags HAProxy has that change nothing here; accepted so that existing scripts keep working.
_NO_EFFECT = {
    "debug_memory": "-dM (memory debugging has no meaning in Python)",
    "no_insecure_fork": "-dI",
    "no_getaddrinfo": "-dG (names are resolved with the C library's getaddrinfo)",
    "no_epoll": "-de (trio chooses the poller)",
    "no_poll": "-dp (trio chooses the poller)",
    "no_kqueue": "-dk (no kqueue on Linux)",
    "dump_libs": "-dL",
    "dump_keywords": "-dK (see docs/KEYWORDS.md, generated from the keyword tables)",
    "no_ssl_verify": "-dV (TLS is not supported yet)",
}


def normalize_argv(argv: Sequence[str]) -> list[str]:
    """Rewrite HAProxy-style arguments into the forms the click command declares."""
    result: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            for name in argv[index:]:
                result += ["-f", name]
            break
        if arg in ("-sf", "-st"):
            while index < len(argv) and not argv[index].startswith("-"):
                result += [arg, argv[index]]
                index += 1
            continue
        if arg.startswith("-dM"):
            result.append("--debug-memory=" + arg[3:])
        elif arg.startswith("-dK"):
            result.append("--dump-keywords=" + arg[3:])
        else:
            result.append(arg)
    return result


class HaproxyCommand(click.Command):
    """A click command that accepts HAProxy's argument conventions."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, normalize_argv(args))


def _flag(name: str, dest: str, text: str) -> Any:
    return click.option(name, dest, is_flag=True, help=text)


@click.command(
    cls=HaproxyCommand,
    context_settings={"help_option_names": ["--help", "-h"], "max_content_width": 100},
    help="haproxy-py: HAProxy's load balancer, configuration language and command line, in Python.",
)
@click.option(
    "-f",
    "config_files",
    multiple=True,
    metavar="FILE|DIR",
    help="Configuration file or directory of *.cfg files (repeatable); '--' makes every later argument a file.",
)
@_flag("-c", "check", "Check the configuration and exit (0 valid, 1 invalid, 2 no listener).")
@click.option(
    "-cc",
    "condition",
    metavar="EXPR",
    help="Evaluate a .if condition: exit 0 if true, 1 if false, 2 on error.",
)
@_flag("-d", "debug", "Foreground, debug output.")
@_flag("-db", "foreground", "Stay in the foreground even with 'daemon' in the configuration.")
@_flag("-D", "daemon", "Run as a daemon.")
@_flag("-W", "master_worker", "Master-worker mode.")
@_flag("-Ws", "master_worker_systemd", "Master-worker mode with systemd notify.")
@click.option("-S", "master_cli", multiple=True, metavar="BIND[,OPTS]", help="Master CLI socket.")
@click.option("-p", "pidfile", metavar="FILE", help="Write the (master's) pid to FILE.")
@click.option(
    "-sf",
    "soft_stop_pids",
    multiple=True,
    type=int,
    metavar="PID...",
    help="Soft-stop these pids once started.",
)
@click.option(
    "-st",
    "hard_stop_pids",
    multiple=True,
    type=int,
    metavar="PID...",
    help="Terminate these pids once started.",
)
@click.option(
    "-x",
    "take_sockets",
    metavar="SOCKET",
    help="Take listening sockets from a running process's stats socket.",
)
@_flag("-v", "version", "Print the version and exit.")
@_flag("-vv", "build_info", "Print the version, build details and features, and exit.")
@_flag("-q", "quiet", "Quiet: print nothing.")
@_flag("-V", "verbose", "Verbose.")
@click.option("-n", "maxconn", type=click.IntRange(1), metavar="N", help="Global maxconn.")
@click.option(
    "-N", "proxy_maxconn", type=click.IntRange(1), metavar="N", help="Default per-proxy maxconn."
)
@click.option(
    "-m", "memory_mb", type=click.IntRange(1), metavar="MB", help="Memory limit in megabytes."
)
@click.option("-L", "local_peer", metavar="NAME", help="Local peer name (default: host name).")
@click.option("-C", "chdir", metavar="DIR", help="Change to DIR before reading files.")
@_flag("-dW", "zero_warning", "Warnings are fatal.")
@_flag("-dD", "diagnostic", "Diagnostic mode (.diag messages are shown).")
@_flag("-dS", "no_splice", "Never use splice.")
@_flag("-dR", "no_reuseport", "Do not set SO_REUSEPORT.")
@_flag("-dr", "ignore_resolution", "Ignore server name resolution failures.")
@_flag("-dV", "no_ssl_verify", "No SSL verify on servers (accepted; TLS is not supported yet).")
@_flag("-dI", "no_insecure_fork", "Accepted for compatibility.")
@_flag("-dG", "no_getaddrinfo", "Accepted for compatibility.")
@_flag("-de", "no_epoll", "Accepted for compatibility.")
@_flag("-dp", "no_poll", "Accepted for compatibility.")
@_flag("-dk", "no_kqueue", "Accepted for compatibility.")
@_flag("-dL", "dump_libs", "Accepted for compatibility.")
@click.option(
    "--debug-memory", "debug_memory", metavar="OPTS", help="-dM[OPTS]: accepted for compatibility."
)
@click.option(
    "--dump-keywords",
    "dump_keywords",
    metavar="CLASS",
    help="-dK<class>: accepted for compatibility.",
)
@_flag(
    "--show-config",
    "show_config",
    "Print the configuration as haproxy-py understood it, then exit.",
)
def command(**options: Any) -> None:
    launch = click.get_current_context().obj or {}
    sys.exit(run(Options(**options), launch))


@dataclass(frozen=True)
class Options:
    config_files: tuple[str, ...]
    check: bool
    condition: str | None
    debug: bool
    foreground: bool
    daemon: bool
    master_worker: bool
    master_worker_systemd: bool
    master_cli: tuple[str, ...]
    pidfile: str | None
    soft_stop_pids: tuple[int, ...]
    hard_stop_pids: tuple[int, ...]
    take_sockets: str | None
    version: bool
    build_info: bool
    quiet: bool
    verbose: bool
    maxconn: int | None
    proxy_maxconn: int | None
    memory_mb: int | None
    local_peer: str | None
    chdir: str | None
    zero_warning: bool
    diagnostic: bool
    no_splice: bool
    no_reuseport: bool
    ignore_resolution: bool
    no_ssl_verify: bool
    no_insecure_fork: bool
    no_getaddrinfo: bool
    no_epoll: bool
    no_poll: bool
    no_kqueue: bool
    dump_libs: bool
    debug_memory: str | None
    dump_keywords: str | None
    show_config: bool


def run(opts: Options, launch: dict[str, Any] | None = None) -> int:
    """Carry out the command line; return the exit status. `launch` has the raw arguments
    and the starting directory (a master re-executes itself with them)."""
    reporter = Reporter(quiet=opts.quiet)
    if opts.version or opts.build_info:
        sys.stdout.write(build_banner() if opts.build_info else version_banner())
        return 0
    from master.reexec import ReexecError, read_state

    try:
        carried = read_state(os.environ)  # set only in a master re-executed for a reload
    except (ReexecError, OSError, EOFError) as exc:
        reporter.alert(f"cannot resume the master after its re-exec: {exc}")
        return 1
    env = dict(os.environ)
    env.setdefault("HAPROXY_LOCALPEER", opts.local_peer or socket.gethostname())
    if opts.local_peer:
        env["HAPROXY_LOCALPEER"] = opts.local_peer
    if opts.condition is not None:
        return _evaluate(opts.condition, env, reporter)
    if opts.chdir:
        try:
            os.chdir(opts.chdir)
        except OSError as exc:
            reporter.alert(f"Cannot change to directory {opts.chdir} : {exc.strerror}")
            return 1
    if not opts.config_files:
        reporter.alert("No configuration file was given (use -f FILE|DIR).")
        return 1
    if carried is not None:
        from master.supervisor import run_master

        settings = _worker_settings(opts, reporter)
        master_settings = _master_settings(opts, env, reporter, settings, launch or {})
        return run_master(carried.config, [], [], master_settings, reporter, carried=carried)
    for name, flag in _NO_EFFECT.items():
        if getattr(opts, name) and not opts.check:
            reporter.notice(f"{flag} has no effect in haproxy-py; ignored.")
    result = _load(opts, env)
    status = _report(result, opts, reporter)
    if status is not None:
        return status
    if opts.show_config:
        from master.show_config import render_config

        assert result.config is not None
        sys.stdout.write(render_config(result.config))
        return 0
    config = result.config
    assert config is not None
    master_worker = opts.master_worker or opts.master_worker_systemd or config.global_.master_worker
    settings = _worker_settings(opts, reporter, config.global_.daemon)
    if master_worker:
        return _serve_with_master(config, settings, opts, env, reporter, launch or {})
    if opts.master_cli:
        reporter.warning(
            "config : a master CLI socket was defined, but master-worker mode (-W) is not enabled."
        )
    from master.single import serve_alone

    return serve_alone(config, settings, reporter)


def _worker_settings(
    opts: Options, reporter: Reporter, daemon_configured: bool = False
) -> dict[str, Any]:
    """The command-line settings a worker's WorkerStart carries (and the master reads)."""
    return {
        "nosplice": opts.no_splice,
        "noreuseport": opts.no_reuseport,
        "maxconn": opts.maxconn,
        "maxconn_per_proxy": opts.proxy_maxconn,
        "debug": opts.debug,
        "ignore_resolution": opts.ignore_resolution,
        "executable": reporter.executable,
        "preamble_printed": reporter.preamble_done,
        # -D or `daemon`, unless -d/-db (foreground) or -Ws (systemd runs us) say otherwise.
        "daemon": (opts.daemon or daemon_configured)
        and not (opts.debug or opts.foreground or opts.master_worker_systemd),
        "pidfile": opts.pidfile,
        "soft_stop_pids": opts.soft_stop_pids,
        "hard_stop_pids": opts.hard_stop_pids,
        "take_sockets": opts.take_sockets,
    }


def _master_settings(
    opts: Options,
    env: dict[str, str],
    reporter: Reporter,
    settings: dict[str, Any],
    launch: dict[str, Any],
) -> MasterSettings:
    from master.supervisor import MasterSettings

    def reload_config() -> Config | None:
        result = _load(opts, env)
        if _report(result, opts, reporter) is not None:
            return None
        return result.config

    return MasterSettings(
        load_config=reload_config,
        worker_settings=settings,
        reuseport=not opts.no_reuseport,
        pidfile=opts.pidfile,
        systemd=opts.master_worker_systemd,
        program=launch.get("program", sys.argv[0]),
        argv=list(launch.get("args", ())),
        start_dir=launch.get("start_dir", os.getcwd()),
        reexec=bool(launch.get("args")),
        daemon=bool(settings.get("daemon")),
    )


def _serve_with_master(
    config: Config,
    settings: dict[str, Any],
    opts: Options,
    env: dict[str, str],
    reporter: Reporter,
    launch: dict[str, Any],
) -> int:
    from haproxy_py.process.daemon import daemonize
    from haproxy_py.process.listeners import BindError
    from master.mcli import bind_master_cli, parse_master_cli
    from master.single import bind_listeners
    from master.supervisor import run_master

    try:
        mcli_binds = [parse_master_cli(argument) for argument in opts.master_cli]
    except ConfigError as exc:
        reporter.alert(f"config : {exc}")
        reporter.alert("config : Can't create the master's CLI.")
        return 1
    listeners = bind_listeners(config, settings, reporter)
    if listeners is None:
        return 1
    try:
        mcli = bind_master_cli(mcli_binds)
    except BindError as exc:
        for listener in listeners:
            listener.sock.close()
        for message in exc.messages:
            reporter.alert(message)
        reporter.alert("[haproxy.main()] Some protocols failed to start their listeners! Exiting.")
        return 1
    master_settings = _master_settings(opts, env, reporter, settings, launch)
    if master_settings.daemon:
        daemonize()
    return run_master(config, listeners, mcli, master_settings, reporter)


def _load(opts: Options, env: dict[str, str]) -> LoadResult:
    return load_configuration(
        list(opts.config_files),
        env,
        {
            "diagnostic": opts.diagnostic,
            "nosplice": opts.no_splice,
            "maxconn": opts.maxconn,
            "maxconn_per_proxy": opts.proxy_maxconn,
        },
    )


def _evaluate(condition: str, env: dict[str, str], reporter: Reporter) -> int:
    try:
        return 0 if evaluate_condition([condition], env) else 1
    except ConfigError as exc:
        reporter.alert(f"config : Failed to evaluate condition: {exc.message}")
        return 2


def _report(result: LoadResult, opts: Options, reporter: Reporter) -> int | None:
    """Print the diagnostics; return an exit status when the run ends here."""
    config = result.config
    zero_warning = opts.zero_warning
    if config is not None:
        reporter.quiet = reporter.quiet or bool(config.global_.setting("quiet"))
        zero_warning = zero_warning or bool(config.global_.setting("zero-warning"))
    for item in result.diagnostics:
        reporter.diagnostic(item)
    diagnostics = result.diagnostics
    if diagnostics.alerts:
        for name in diagnostics.files_with_alerts():
            reporter.alert(f"config : Error(s) found in configuration file : {name}")
        reporter.alert("config : Fatal errors found in configuration.")
        return 1
    if diagnostics.warnings and zero_warning:
        reporter.alert("config : Some warnings were found and 'zero-warning' is set. Aborting.")
        return 1
    if config is not None:
        from master.programs import program_problems

        master_worker = opts.master_worker or opts.master_worker_systemd
        problems = program_problems(config, master_worker or config.global_.master_worker)
        if problems:
            for text in problems:
                reporter.alert(text)
            reporter.alert("config : Fatal errors found in configuration.")
            return 1
        if _serving_refused(config, opts, reporter):
            return 1
    if not opts.check:
        return None
    refusals = check_rules(config) if config is not None else []  # the rules' samples
    if refusals:
        for text in refusals:
            reporter.alert(text)
        reporter.alert("config : Fatal errors found in configuration.")
        return 1
    if not opts.quiet:
        if diagnostics.count(Severity.WARNING):
            print("Warnings were found.")
        assert config is not None
        if not config.has_listeners():
            print("Configuration file has no error but will not start (no listener) => exit(2).")
            return 2
        print("Configuration file is valid")
    elif config is not None and not config.has_listeners():
        return 2
    return 0


def _serving_refused(config: Config, opts: Options, reporter: Reporter) -> bool:
    """The checks every worker runs at start (haproxy_py/config/serving.py), run here too so
    that `-c` and a start refuse the same configurations, with HAProxy's messages."""
    from haproxy_py.config.serving import resolve_servers, serving_problems
    from haproxy_py.process.resolver import system_resolver

    backends = [p for p in config.proxies if p.is_backend and not p.disabled]
    found = resolve_servers(backends, system_resolver, ignore_failures=opts.ignore_resolution)
    for severity, text in found.ordered:
        (reporter.alert if severity == "alert" else reporter.warning)(text)
    problems = serving_problems(config)
    for text in problems:
        reporter.alert(text)
    if problems:
        reporter.alert("config : Fatal errors found in configuration.")
    return bool(found.alerts or problems)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line (master/entry.py resets signals first). Never lets a traceback
    reach the user."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.stdout.write(version_banner())
        sys.stderr.write(USAGE)
        sys.exit(1)
    try:
        launch = {
            "program": os.path.abspath(sys.argv[0]),
            "args": list(args),
            "start_dir": os.getcwd(),
        }
        status = command.main(args=args, prog_name="haproxy-py", standalone_mode=False, obj=launch)
    except click.UsageError as exc:
        # HAProxy answers a bad command line with its usage and status 1; scripts that run
        # `-c` read 2 as "valid but no listener", so click's usual 2 would mislead them.
        sys.stderr.write(f"[ALERT]    ({os.getpid()}) : {exc.format_message()}\n{USAGE}")
        sys.exit(1)
    except click.Abort:
        sys.exit(1)
    except SystemExit:
        raise
    except Exception as exc:  # a bug: say what happened without a traceback
        sys.stderr.write(
            f"[ALERT]    ({os.getpid()}) : internal error: {type(exc).__name__}: {exc}"
            " (please report it)\n"
        )
        if os.environ.get("HAPROXY_PY_TRACEBACK"):  # for developers chasing such a bug
            traceback.print_exc()
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)
