"""Measures of returns and portfolios, below everything that reports them: performance
figures (quantstats' definitions), inference on Sharpe differences, covariance."""
