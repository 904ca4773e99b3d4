import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from fxharness import Federation  # noqa: E402


@pytest.fixture
def federation():
    fed = Federation()
    yield fed
    fed.stop()


@pytest.fixture(scope="module")
def running():
    """One broker, one user, one endpoint (2 managers x 2 workers), shared by a module."""
    import fx
    fed = Federation()
    fed.start_broker()
    fed.creds = fed.add_user("alice")
    fed.endpoint = fed.start_endpoint(fed.creds, "alice-ep", managers=2, workers=2)
    fed.client = fx.Client(credentials=fed.creds)
    yield fed
    fed.client.close()
    fed.stop()
