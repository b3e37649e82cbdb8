"""wechat-mqtt-bridge: MQTT events in, WeChat room messages out, delivery reports back on MQTT."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wechat-mqtt-bridge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
