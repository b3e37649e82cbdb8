"""A third-party gateway in the tests: our gateway with the mock puppet, behaving as
leeguooooo/wechat-skill documents its own (issue 25).

wechat-skill runs WeChat 4.x on macOS and serves a wechaty puppet-service on port 18401 with TLS
off, for "any wechaty 1.x client"; it sends text only (images and files are on its roadmap), its
group ids end in `@chatroom`, and it has a token of its own. Here the production gateway runs with
the test controls' `TEST_GATEWAY_PROFILE=wechat-skill` (tests/gateway/controls.mjs): every file
method answers gRPC UNIMPLEMENTED. Port 18401 when it is free on this machine, else a free port
standing for it.
"""

from __future__ import annotations

import socket
from typing import Any

from tests.support.gateway import MockGateway, free_port

#: wechat-skill's documented port.
WECHAT_SKILL_PORT = 18401
#: Its own token, not the mock gateway's.
WECHAT_SKILL_TOKEN = "wechat-skill-activation-0123456789"
WECHAT_SKILL_WORLD: dict[str, Any] = {
    "user": {"id": "wxid_skillbot", "name": "Skill Bot"},
    "contacts": [{"id": "wxid_alice", "name": "Alice"}, {"id": "wxid_bob", "name": "Bob"}],
    "rooms": [
        {"id": "20512345678@chatroom", "topic": "Happy Family", "members": ["wxid_alice", "wxid_bob"]},
        {"id": "20587654321@chatroom", "topic": "Ops", "members": ["wxid_bob"]},
    ],
}


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_wechat_skill() -> MockGateway:
    """The wechat-skill-like gateway, started and logged in (stop it when done)."""
    port = WECHAT_SKILL_PORT if _free(WECHAT_SKILL_PORT) else free_port()
    return MockGateway().start(WECHAT_SKILL_WORLD, port=port, token=WECHAT_SKILL_TOKEN,
                               env={"TEST_GATEWAY_PROFILE": "wechat-skill"})
