"""`python -m tools.train SOLVER...`: runs the stock `caffe train` (locally or in
a Docker image), so training works in any Caffe build, even one whose Python
is 2.7; progress, records, resumption and divergence stops come from its log."""
