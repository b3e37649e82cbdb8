"""Unit tests of bridge/commands/."""
