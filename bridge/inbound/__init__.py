"""What arrives on MQTT: each topic classified once (`dispatch`), events stored through the
intake, requests answered, `for` timers fired. Imports the core, `bridge.config`,
`bridge.pipeline`, `bridge.outbox`, `bridge.reporting` and `bridge.homeassistant`.
"""
