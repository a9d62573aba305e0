import sys

from kubectl_tds.cli import main

sys.exit(main())
