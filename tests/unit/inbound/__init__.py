"""Unit tests of bridge/inbound/."""
