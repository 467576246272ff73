"""Data tools: the paper's training sets turned into the LMDBs that the
generated nets read (design.md sections 3 and 3b).

`python -m tools.data {voc,coco,lists,context} --help`.
"""
