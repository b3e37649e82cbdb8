"""Unit tests of bridge/delivery/."""
