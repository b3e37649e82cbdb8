"""The durable outbox: the only package that runs SQL (`store` opens the SQLite database; the other
modules run their SQL on the connection it hands them), with the values it takes and gives and the
decisions it makes inside its transactions. Imports the core and `bridge.config`.
"""
