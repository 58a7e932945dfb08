"""``python -m engine.cli``: the same as the ``framewise`` command without the label editor."""

import sys

from engine.cli.main import main

sys.exit(main())
