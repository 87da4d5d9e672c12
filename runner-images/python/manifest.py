"""Print the runner image's manifest (/opt/arena/manifest.json). Run by the image's own Python at build time:
``python3 manifest.py DIGEST``, DIGEST being the recipe digest computed by arena/images/recipe.py."""

import json
import platform
import sys

import arena_bot  # noqa: F401  # the SDK must import too
import numpy
import pandas

json.dump({"schema": 1, "image": "arena/runner-python", "digest": sys.argv[1],
           "python": platform.python_version(), "interpreter": "/usr/local/bin/python3",
           "packages": {"numpy": numpy.__version__, "pandas": pandas.__version__},
           "sdk": "/opt/arena/sdk", "user": "10001:10001"},
          sys.stdout, indent=2, sort_keys=True)
print()
