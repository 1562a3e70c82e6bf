"""The workers' runtime API (the stats socket's command language), pure parts.

Owns the command table (help and unknown-command answers come from it, haproxy_py/proto/
cli_help.py), reading a request as the master forwards it (level and mode lines first, then
one line of `;`-separated commands), and the text formats of the answers. worker/cli.py runs
the commands against the worker's state. This is the start of the issue that brings the
full runtime API and shared counters: today `help` and `show info` (the fields one worker
knows by itself) answer; everything else gets HAProxy's unknown-command answer.
"""
