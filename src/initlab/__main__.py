import sys

from initlab.cli import main

sys.exit(main())
