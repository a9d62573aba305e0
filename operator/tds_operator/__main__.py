import sys

from tds_operator.main import main

sys.exit(main())
