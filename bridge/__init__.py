"""wechat-mqtt-bridge: MQTT events in, WeChat room messages out, delivery reports back on MQTT."""

import os

#: Equal to pyproject's `version` (tests/unit/ilink/test_version.py checks). A constant rather than
#: importlib.metadata: importing that costs start-up time, and a source tree never installed has
#: no metadata at all. iLink's `bot_agent` names the bridge with it.
__version__ = "0.1.0"

# pydantic looks for plugins by walking every installed distribution's entry points
# (importlib.metadata) when the first model is built: ~0.1 s at start-up on a small machine, for
# plugins the bridge does not use. A user who wants one sets the variable to list it.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
