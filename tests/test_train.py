"""The training script's command line (`python -m siglip2_min.train`); its batches are tested in test_data.py."""

import pytest

from siglip2_min import train


@pytest.mark.parametrize("bad", ["-0.1", "1.5"])
def test_one_colour_fraction_outside_0_1_is_refused(bad, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train.main(["--out", str(tmp_path), "--one-colour", bad])
    assert "--one-colour must lie in [0, 1]" in capsys.readouterr().err
