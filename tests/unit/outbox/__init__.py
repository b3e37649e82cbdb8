"""Unit tests of bridge/outbox/."""
