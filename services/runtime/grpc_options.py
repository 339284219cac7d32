"""gRPC channel and server options tuned for a lab whose links are cut on purpose.

The defaults suit a data centre where links rarely die: reconnect backoff grows to two
minutes and a black-holed connection is noticed only by the TCP stack. Here a partition
is healed seconds after it starts, and the system must notice both within a second or so.
"""

from __future__ import annotations

# Reconnect quickly after a heal: the default backoff grows to 120 s. gRPC core also
# reads min_reconnect_backoff_ms as the *minimum connect timeout* (doc/connection-
# backoff.md's MIN_CONNECT_TIMEOUT): at 100 ms, no connection could be made over a link
# with a latency fault above ~100 ms, so a slow link looked cut to every new channel.
# 1 s lets connections through latency faults below it, and a hung attempt is retried
# within the same second the backoff allows anyway.
_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 1000),
    ("grpc.max_reconnect_backoff_ms", 1000),
]

# Notice a black-holed connection (Toxiproxy's timeout toxic drops bytes and never
# closes): a keepalive ping unanswered for a second closes the transport.
_KEEPALIVE_CLIENT = [
    ("grpc.keepalive_time_ms", 1000),
    ("grpc.keepalive_timeout_ms", 1000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]

# Servers must accept those pings, or they answer GOAWAY "too_many_pings".
_KEEPALIVE_SERVER = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 500),
    ("grpc.http2.max_ping_strikes", 0),
]

MAX_MESSAGE_BYTES = 8 * 1024 * 1024

CHANNEL_OPTIONS = [
    *_RECONNECT,
    *_KEEPALIVE_CLIENT,
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Each peer link gets its own TCP connection, so cutting one link cannot be
    # bypassed by a subchannel shared with another channel to the same address.
    ("grpc.use_local_subchannel_pool", 1),
]

SERVER_OPTIONS = [
    *_KEEPALIVE_SERVER,
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # grpc sets SO_REUSEPORT by default, which lets a second server bind a port
    # already in use and silently split its traffic. A busy port must be an error.
    ("grpc.so_reuseport", 0),
]
