"""The commands beside `run`: `doctor`, `health` and `render`. Imports the core, `bridge.config`,
`bridge.pipeline`, `bridge.outbox`, `bridge.mqtt`, `bridge.wechat` and `bridge.reporting`; the
CLI (`bridge.cli`) decides their exit codes.
"""
