"""Sans-IO protocol cores: bytes in, events out, no sockets, no trio.

Each subpackage owns one wire protocol and is tested without a network (whole buffers, byte by
byte, back to back). The worker wraps them in its trio loops.
"""
