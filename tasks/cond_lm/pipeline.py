"""`pipeline("cond_lm", model=D)("正面", n=5, top_p=0.95)` -> five generated texts."""
from nlpkit.errors import NlpkitError
from nlpkit.pipelines import Pipeline


class CondLMPipeline(Pipeline):
    def __call__(self, inputs=None, *, label=None, cond=None, stream=False, **options):
        """Generate texts under a label (its name or raw value; also `label=`), a request dict
        ({"label"|"cond", "prefix", "n", decode settings}) or a condition vector `cond=`; returns a
        list of strings. Several inputs (a list, tuple or generator of labels or requests, or a list
        of vectors as `cond=`) return one such list each. stream=True yields one text piece by piece.
        Options: prefix= and the decode settings (n, top_p, seed, max_new_tokens, ...)."""
        if sum(x is not None for x in (inputs, label, cond)) > 1:
            raise NlpkitError("give one of: the inputs, label=, cond=")
        if label is not None:
            inputs = label
        elif cond is not None:
            inputs = _cond_requests(cond)
        elif inputs is None:
            inputs = {}  # check_request then says what the model takes
        if isinstance(inputs, int) and not isinstance(inputs, bool):
            inputs = {"label": inputs}
        results = super().__call__(inputs, stream=stream, **options)
        if stream:
            return results
        return results["texts"] if isinstance(inputs, (str, dict)) else [r["texts"] for r in results]


def _cond_requests(cond):
    """One vector (a list, tuple, array or tensor of numbers) -> a request; several -> a list of them."""
    vectors = cond.tolist() if hasattr(cond, "tolist") else list(cond)
    if vectors and isinstance(vectors[0], (list, tuple)):
        return [{"cond": list(v)} for v in vectors]
    return {"cond": vectors}
