"""Command-line tools around the generated nets: training, score extraction,
prediction and evaluation (plus the data and weight tools)."""
