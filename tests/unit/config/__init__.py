"""Unit tests of bridge/config/."""
