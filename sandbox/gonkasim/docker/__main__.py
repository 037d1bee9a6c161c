"""`python3 -m gonkasim.docker ARGS` behaves like `docker ARGS`."""

import sys

from .cli import main

sys.exit(main())
