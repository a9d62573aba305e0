import sys

from tds_operator.plugin.cli import main

sys.exit(main())
