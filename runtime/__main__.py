import sys

from boxtrace.runtime.cli import main

sys.exit(main())
