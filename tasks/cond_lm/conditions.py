"""What a cond_lm model is conditioned on, read from its task state: labels (by display name or raw
value) or vectors of one size; each wrong condition is one error naming the field."""
from nlpkit.errors import DataError, NlpkitError

from .reader import check_cond


class Conditions:
    def __init__(self, state, names):
        """state: the task's {"mode": "label", "labels"} or {"mode": "vector", "cond_dim"}; names: raw label ->
        display name (config label_names)."""
        if "mode" not in state:
            raise NlpkitError("cond_lm: no task state (labels / condition size); prepare() on training data first")
        self.mode, self.labels, self.size, self.names = state["mode"], state.get("labels", []), \
            state.get("cond_dim"), names

    def wanted(self):
        """What a request of this model gives."""
        if self.mode == "label":
            return f"'label' (one of {', '.join(self.labels)})"
        return f"'cond' (a list of {self.size} numbers)"

    def index(self, label, path="input", line=None):
        """Index of a label given by name or by its raw value in the data (e.g. 1 for "正面")."""
        if self.mode != "label":
            raise DataError(path, line, f"this model is conditioned on vectors: give {self.wanted()}, not 'label'",
                            "label")
        name = self.names.get(str(label), str(label))
        if name not in self.labels:
            raise DataError(path, line, f"unknown label '{label}'; known labels: {', '.join(self.labels)}", "label")
        return self.labels.index(name)

    def vector(self, values, path="input", line=None):
        """A condition vector of the model's size, as floats."""
        if self.mode != "vector":
            raise DataError(path, line, f"this model is conditioned on labels: give {self.wanted()}, not 'cond'",
                            "cond")
        return check_cond(values, path, line, size=self.size)
