"""Unit tests of bridge/pipeline/."""
