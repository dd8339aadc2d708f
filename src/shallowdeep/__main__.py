"""``python -m shallowdeep`` is the same as the ``shallowdeep`` command."""

import sys

from shallowdeep.cli import main

sys.exit(main())
