"""`python -m streams.cli`: the `helpstream` command."""

import sys

from streams.cli import main

sys.exit(main())
