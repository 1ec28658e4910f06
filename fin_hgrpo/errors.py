"""Exceptions for bad input. Their message names the file, ticker, date or key at fault."""


class FinHgrpoError(Exception):
    """Base class of the errors a user can fix by changing their input."""


class DataError(FinHgrpoError, ValueError):
    """Market data that is missing, malformed or cannot be trusted."""


class SpecError(FinHgrpoError, ValueError):
    """A spec file (TOML) with a missing file, wrong key or invalid value."""


class StrategyError(FinHgrpoError):
    """A strategy returned weights the engine cannot trade to."""
