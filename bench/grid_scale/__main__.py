import sys

from bench.grid_scale.cli import main

sys.exit(main())
