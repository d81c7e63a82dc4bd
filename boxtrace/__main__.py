import sys

from boxtrace.cli import main

sys.exit(main())
