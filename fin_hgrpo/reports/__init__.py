"""What a run shows: a backtest's report page and tearsheets, the long-short book's
section, market regimes, a sweep's report, and the HTML every page shares."""
