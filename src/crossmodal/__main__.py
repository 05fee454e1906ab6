import sys

from crossmodal.cli import main

sys.exit(main())
