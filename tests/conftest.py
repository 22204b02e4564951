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
