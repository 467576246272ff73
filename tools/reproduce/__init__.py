"""`python -m tools.reproduce DATASET`: the paper's whole recipe for one data set
as one resumable command, calling the other tools through their command lines."""
