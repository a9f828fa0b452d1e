import sys

from scripts.dashboards.build import main

sys.exit(main(sys.argv[1:]))
