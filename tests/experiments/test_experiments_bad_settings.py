"""Bad settings of the trained experiments fail early with a clear message and leave no run directory."""
import pytest

import initlab as il

CASES = [("dropout", {"p_hidden": 1.5}, "p_hidden"), ("batchnorm", {"unit": 500}, "unit"),
         ("deep-relu", {"depth": 2}, "depth"), ("glorot-saturation", {"layers": 1}, "layers"),
         ("glorot-saturation", {"lr_candidates": "0.1,-1"}, "learning rates"),
         ("glorot-saturation", {"n_val": 2000}, "n_val"),
         ("pretrained-init", {"target_digits": "0,5"}, "overlap"), ("auto-init", {"depth": 1}, "depth"),
         ("relu-magnitude", {"width": "wide"}, "width")]


@pytest.mark.parametrize("name, overrides, needle", CASES)
def test_bad_setting(tmp_path, name, overrides, needle):
    out = tmp_path / name
    with pytest.raises(ValueError, match=needle):
        il.experiments.run(name, quick=True, out=out, quiet=True, **overrides)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir()]
