import sys

from improvement.cli import main

sys.exit(main())
