"""What the bridge does when WeChat reports something (login, logout, room changes, messages
people write), tying the stages together above them. Imports the core, `bridge.config`,
`bridge.pipeline`, `bridge.wechat`, `bridge.reporting` and `bridge.homeassistant`.
"""
