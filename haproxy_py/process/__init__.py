"""The only core code that touches the process: listening sockets, and later privileges
(chroot, setuid, prctl), descriptor passing and shared memory. Pure of trio like the rest of
haproxy_py, but allowed to make system calls.
"""
