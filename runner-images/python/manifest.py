"""Print the runner image's manifest (/opt/arena/manifest.json). Run by the image's own Python at build time:
``python3 manifest.py DIGEST``, DIGEST being the recipe digest computed by arena/images/recipe.py. Each package a
bot may use must import, or the build fails; the versions are what `arena backtest` compares the host's with."""

import json
import platform
import sys

import arena_bot  # noqa: F401  # the SDK must import too
import numpy
import onnxruntime
import pandas
import scipy
import sklearn

if "CPUExecutionProvider" not in onnxruntime.get_available_providers():
    sys.exit(f"onnxruntime {onnxruntime.__version__} has no CPU execution provider")

# Distribution names (what importlib.metadata and pip call them), so that the host's versions can be looked up.
json.dump({"schema": 1, "image": "arena/runner-python", "digest": sys.argv[1],
           "python": platform.python_version(), "interpreter": "/usr/local/bin/python3",
           "packages": {"numpy": numpy.__version__, "pandas": pandas.__version__, "scipy": scipy.__version__,
                        "scikit-learn": sklearn.__version__, "onnxruntime": onnxruntime.__version__},
           "sdk": "/opt/arena/sdk", "user": "10001:10001"},
          sys.stdout, indent=2, sort_keys=True)
print()
