"""`nlpkit serve`: finished runs behind one HTTP service (the optional `serve` extra: Starlette + uvicorn).

The core never imports this package; `nlpkit serve` imports it only when asked, and says what to install
when the extra is missing."""
from ..errors import NlpkitError

INSTALL = 'nlpkit serve needs the serve extra: pip install -e ".[serve]" (Starlette and uvicorn)'


def main(args):
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise NlpkitError(INSTALL) from None
    from .server import main as serve_main

    return serve_main(args)
