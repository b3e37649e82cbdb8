"""Unit tests of bridge/http/."""
