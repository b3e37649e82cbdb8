"""`python -m bridge` is the same program as the `wechat-mqtt-bridge` console script."""

from bridge.cli import main

raise SystemExit(main())
