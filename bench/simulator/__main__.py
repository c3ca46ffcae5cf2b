import sys

from bench.simulator.cli import main

sys.exit(main())
