"""Unit tests of bridge/fallback/."""
