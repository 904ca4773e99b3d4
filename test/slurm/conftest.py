"""pytest fixtures for the tests in this folder (see fxslurm.py).

`slurm` is one private cluster shared by a module (starting one takes about
2 s); its folder is kept, and named, when a test of the module failed. A
module may set SLURM_CONF = {Key: Value} to change slurm.conf. Another test
folder makes the same fixture with:

    sys.path.insert(0, os.path.join(REPO, "test", "slurm"))
    import fxslurm

    @pytest.fixture(scope="module")
    def slurm(request):
        yield from fxslurm.slurm_cluster(request, conf={"MinJobAge": "2"})
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fxslurm  # noqa: E402


@pytest.fixture(scope="module")
def slurm(request):
    """A private single-node Slurm for the module. MinJobAge=2, so squeue
    forgets a finished job within seconds (the provider's sacct path)."""
    yield from fxslurm.slurm_cluster(request, conf=getattr(request.module, "SLURM_CONF", {"MinJobAge": "2"}))
