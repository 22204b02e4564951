"""Task folders: each subpackage exports `TASK`, a subclass of nlpkit.task.Task."""
