"""wechat-mqtt-bridge: MQTT events in, WeChat room messages out, delivery reports back on MQTT."""

#: Equal to pyproject's `version` (tests/unit/ilink/test_version.py checks). A constant rather than
#: importlib.metadata: importing that costs start-up time, and a source tree never installed has
#: no metadata at all. iLink's `bot_agent` names the bridge with it.
__version__ = "0.1.0"
