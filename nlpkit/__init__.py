"""nlpkit: Chinese-first NLP on BERT fine-tuning."""
__version__ = "0.1.0"


def pipeline(task, model, **options):
    """Load a finished run directory and return the task's callable: `pipeline("seq2seq", model="runs/x")`."""
    from .pipelines import pipeline as _pipeline

    return _pipeline(task, model, **options)
