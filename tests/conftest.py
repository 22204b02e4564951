import os

# nothing in the suite may reach a model hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _cache(tmp_path_factory):
    os.environ["NLPKIT_CACHE"] = str(tmp_path_factory.mktemp("nlpkit-cache"))


def pytest_collection_modifyitems(items):
    """A module names its fixtures that train a full profile in SLOW_FIXTURES; every test using one is
    marked `slow`, so `pytest -m "not slow"` neither runs those tests nor trains those fixtures."""
    for item in items:
        slow = getattr(item.module, "SLOW_FIXTURES", ())
        if slow and set(slow) & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
