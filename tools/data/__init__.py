"""Data tools: the paper's training sets turned into the LMDBs that the
generated nets read (docs/design.md, Records).

`python -m tools.data {voc,coco,lists,context} --help`.
"""
