import sys

from tds_operator.process.main import main

sys.exit(main())
