"""Unit tests of bridge/mqtt/."""
