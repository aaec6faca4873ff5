"""``python -m hpchub.compat``: check this environment's upstream packages against the patches."""

import sys

from hpchub.compat import main

sys.exit(main())
