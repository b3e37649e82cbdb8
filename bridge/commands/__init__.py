"""The commands beside `run`: `doctor` (the official bot's links in `doctor_ilink`), `health`, `render`
and `ilink`. Imports the core, `bridge.config`, `bridge.pipeline`, `bridge.outbox`, `bridge.mqtt`,
`bridge.wechat` and `bridge.reporting`; the CLI (`bridge.cli`) decides their exit codes.
"""
