"""The configuration: pydantic models of every key, the YAML reader that keeps each key's line, and
the loader (includes, environment overrides, every problem located). Imports only the core
(`bridge.errors`, `bridge.events`, `bridge.i18n`, `bridge.topics`) and PyYAML (`yaml_source` alone).
"""
