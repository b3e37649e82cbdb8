"""The shims in bridge/wechaty_compat.py that can be checked without a gateway."""

from __future__ import annotations

from h2.config import H2Configuration
from h2.connection import H2Connection

from bridge.wechaty_compat import CLOSED_STREAMS_REMEMBERED


def test_an_http2_connection_forgets_closed_streams_beyond_the_limit() -> None:
    # Shim 4: without it, h2 keeps 65,536 closed stream ids per gateway connection (about 10 MB),
    # which the benchmark's memory step shows as growth between 10,000 and 100,000 sends.
    connection = H2Connection(H2Configuration(client_side=True))
    connection.initiate_connection()
    headers = [(":method", "POST"), (":scheme", "http"), (":authority", "token"), (":path", "/x")]
    for stream_id in range(1, 2 * (CLOSED_STREAMS_REMEMBERED + 500), 2):
        connection.send_headers(stream_id, headers)
        connection.reset_stream(stream_id)
        connection.data_to_send()
    connection.open_outbound_streams  # noqa: B018 - counting the open streams is when h2 files closed ones away

    remembered = connection._closed_streams  # the dict the shim bounds
    assert len(remembered) == CLOSED_STREAMS_REMEMBERED
    assert max(remembered) == 2 * (CLOSED_STREAMS_REMEMBERED + 500) - 1  # the newest are the ones kept
