"""Unit tests of bridge/reporting/."""
