"""When WeChat is away: the rules for when the fallback speaks and what it says, the service that
runs them, and Apprise (`apprise`, the only module importing it). Imports the core,
`bridge.config`, `bridge.pipeline`, `bridge.outbox` and `bridge.delivery` (its ports).
"""
