import sys

from bench.model_cost.cli import main

sys.exit(main())
