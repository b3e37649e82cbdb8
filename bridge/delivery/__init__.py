"""Outbox -> WeChat: the worker that claims the next due delivery, paces it, sends it and records the
outcome. Imports the core, `bridge.config`, `bridge.pipeline` and `bridge.outbox`; it is handed the
WeChat sender and the downloader, and imports neither.
"""
