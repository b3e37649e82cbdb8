"""Unit tests of bridge/wechat/."""
