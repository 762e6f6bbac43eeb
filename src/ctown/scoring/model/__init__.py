"""The learned credit model (R-2.5): optimal binning, WoE logistic scorecard, GBM challenger.

``train.train_model`` fits both on a modelling table and keeps the one with the better holdout
AUC; ``export`` writes the portable JSON and SQL ``CASE`` forms; ``apply`` scores with Polars.
"""
