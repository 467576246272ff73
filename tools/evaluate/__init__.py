"""`python -m tools.evaluate`: mean IoU over a set of images, printed in the
layout of the paper's Tables 2-4 and written as CSV and an HTML report."""
