"""What the bridge tells MQTT: the payload of every topic it publishes, the retained status topics,
the delivery reports (marked once the broker has them) and the `bridge/info` answer. Imports the
core, `bridge.config`, `bridge.pipeline`, `bridge.outbox`, `bridge.wechat` and `bridge.fallback`.
"""
