"""The classic methods each task is judged against: TF-IDF + logistic regression, the
most-frequent tag, naive / seasonal-naive / exponential smoothing forecasts, IBM Model 1 and
Kneser-Ney n-grams."""
