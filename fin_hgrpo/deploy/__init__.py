"""Acting after a backtest: each strategy's target weights for the next bar, replayed
from the state a backtest keeps in its ``deploy/`` folder
(``fin_hgrpo.walkforward.deploy_state``)."""
