"""``python -m wsgidrivers.asyncio``."""

from ._cli import main

raise SystemExit(main())
