"""`python -m eda.cli`: the same as the `eda` command."""

import sys

from eda.cli.main import main

sys.exit(main())
