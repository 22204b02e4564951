"""JoSE spherical word and document embeddings (Meng et al., NeurIPS 2019); not a BERT fine-tune.

Exports are resolved on first use, so the worker processes that segment a corpus (which import
nlpkit.tasks.jose.segment) never load torch."""


def load(run_dir):
    """The JoseModel of a finished run directory (or of any folder a JoseModel was saved to)."""
    from .model import JoseModel

    return JoseModel.load(run_dir)


def __getattr__(name):
    if name == "TASK":
        from .task import JoseTask

        return JoseTask
    if name == "JoseModel":
        from .model import JoseModel

        return JoseModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TASK", "JoseModel", "load"]
