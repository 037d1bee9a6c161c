"""`python3 -m gonkarepo build DEST.git`."""

import sys

from .build import main

sys.exit(main())
