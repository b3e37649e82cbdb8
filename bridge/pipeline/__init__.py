"""One MQTT message -> what becomes of it (pure): routes matched, payload decoded, `when` and
templates rendered, attachments planned; the config compiled once into the `Runtime` every stage
reads. Imports the core and `bridge.config`; Jinja2 in `templates` alone; no adapter.
"""
