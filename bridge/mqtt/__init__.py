"""The broker: the bridge's own session (connect, subscribe, manual acknowledgement, reconnect) and
the one-shot clients of the `health` and `doctor` commands. The only package importing aiomqtt or
paho; imports the core and `bridge.config`.
"""
