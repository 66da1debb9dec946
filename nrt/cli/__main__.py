"""`python -m nrt.cli`: the `nrt` command."""

import sys

from nrt.cli import main

sys.exit(main())
