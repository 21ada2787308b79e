"""Tools for trainers who maintain the NLU training data and the held-out test set."""
