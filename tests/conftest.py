"""For every tier, before anything imports scikit-learn or the Firehose transform. Each tier has
its own conftest; what tests share is in tests/helpers/."""

from __future__ import annotations

import os

# Models trained in tests use one OpenMP thread: on a 2-core machine the pool's idle threads
# spin and take the CPU the embedded AWS and the model hosts need (half of the workflow tier).
os.environ.setdefault("OMP_NUM_THREADS", "1")

from nrt.lake.firehose import transform_environment

# The Firehose transform reads its config at import, as in Lambda: give it the template's.
os.environ.update(transform_environment())

# The embedded AWS's fixtures (aws, model_host, model_dir), one of each for the whole session.
pytest_plugins = ["tests.helpers.fixtures"]
