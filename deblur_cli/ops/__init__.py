"""Operators STFAN needs beyond stock PyTorch layers. Importing this package imports nothing heavy."""

# The FAC implementations a user can choose (``--fac``); :mod:`.dispatch` resolves them.
FAC_IMPLS: tuple[str, ...] = ("auto", "reference", "triton", "cpu")
