"""The network is the authors' function: same parameters, same outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deblur_cli.models import STFAN
from deblur_cli.models.weights import strip_prefix
from deblur_cli.ops.fac import fac_reference

from .conftest import MANIFEST


def test_parameter_names_and_shapes_match_authors_checkpoint():
    if not MANIFEST.is_file():
        pytest.skip("manifest not available")
    manifest = json.loads(MANIFEST.read_text())
    ours = {name: list(t.shape) for name, t in STFAN().state_dict().items()}
    theirs = {p["name"].removeprefix("module."): p["shape"] for p in manifest["parameters"]}
    assert ours == theirs
    assert sum(p.numel() for p in STFAN().parameters()) == manifest["num_parameters"] == 5_372_547


def test_fac_reference_matches_golden_case(golden):
    out = fac_reference(torch.from_numpy(golden["fac_input"]), torch.from_numpy(golden["fac_kernel"]))
    np.testing.assert_allclose(out.numpy(), golden["fac_output"], atol=1e-5)


def test_fac_formula_by_hand():
    """One output pixel computed from the formula, including replicate padding at a corner."""
    torch.manual_seed(1)
    inp, filt = torch.rand(1, 2, 6, 7), torch.rand(1, 50, 6, 7)
    out = fac_reference(inp, filt)
    padded = torch.nn.functional.pad(inp, (2, 2, 2, 2), mode="replicate")
    for c, y, x in [(0, 0, 0), (1, 5, 6), (1, 2, 3)]:
        want = sum(padded[0, c, y + i, x + j] * filt[0, c * 25 + i * 5 + j, y, x] for i in range(5) for j in range(5))
        assert torch.isclose(out[0, c, y, x], want, atol=1e-5)


def test_three_frame_recurrence_matches_golden(golden, golden_state_dict):
    model = STFAN().eval()
    model.load_state_dict(strip_prefix(golden_state_dict))
    frames = torch.from_numpy(golden["frames"])
    state = None
    with torch.no_grad():
        for t in range(frames.shape[0]):
            out, state = model(frames[t], state)
            err = (out - torch.from_numpy(golden["outputs"][t])).abs().max().item()
            assert err < 1e-4, f"frame {t}: max abs error {err}"


def test_odd_sizes_are_refused_by_the_bare_network():
    with pytest.raises(ValueError, match="divisible by 4"):
        STFAN()(torch.rand(1, 3, 10, 12))
