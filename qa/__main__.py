from __future__ import annotations

import sys

from qa.cli import main

sys.exit(main())
