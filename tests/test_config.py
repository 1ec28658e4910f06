"""Spec files: a non-finite number is refused wherever it stands, naming its key
(reliability.md N20, N44)."""

import pytest

from fin_hgrpo.config import load_spec
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.errors import SpecError


@pytest.mark.parametrize(("text", "key"), [
    ("[costs]\ncash_rate = nan\n", "costs.cash_rate: nan"),
    ("[costs]\naum = inf\n", "costs.aum: inf"),
    ("[constraints]\nlong_short = true\nnet = [0.0, -inf]\ngross_max = 1.0\n",
     "constraints.net.1: -inf"),
])
def test_a_non_finite_number_is_refused_naming_its_key(text, key, tmp_path):
    path = tmp_path / "env.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=f"env.toml: key {key} is not a finite number"):
        load_spec(path, EnvSpec)
