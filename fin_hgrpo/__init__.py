"""fin_hgrpo: train trading agents on historical market data and judge them honestly."""

from fin_hgrpo.errors import DataError, FinHgrpoError, SpecError

__version__ = "0.1.0"

__all__ = ["DataError", "FinHgrpoError", "SpecError", "__version__"]
