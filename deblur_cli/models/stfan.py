"""STFAN: Spatio-Temporal Filter Adaptive Network (Zhou et al., ICCV 2019).

Module and parameter names follow the authors' release exactly, so their
``deblurnet_state_dict`` loads without a renaming table (after stripping the
``module.`` prefix that ``DataParallel`` added). 5,372,547 parameters.

One call of :meth:`STFAN.forward` is one step of the recurrence:

    R_t, H_t = STFAN(B_t, B_{t-1}, R_{t-1}, H_{t-1})

On the first frame pass ``state=None``: B_{t-1} = R_{t-1} = B_t and H_{t-1} is
built from the frame's own encoder features (concat(E, E)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..ops.fac import KERNEL_SIZE, FacOp, FusedFacOp, FusedWarpOp, fac_reference
from .layers import ConvOp, EpilogueOp, LayerRunner, ResBlock, conv, upconv

CH1, CH2, CH3 = 32, 64, 128
FAC_CHANNELS = CH3 * KERNEL_SIZE * KERNEL_SIZE  # 3200 filter taps per pixel


def filter_head(cin: int) -> nn.Sequential:
    """conv, two residual blocks, then the 1x1 conv (+LeakyReLU) emitting 3200 FAC taps."""
    return nn.Sequential(conv(cin, CH3), ResBlock(CH3), ResBlock(CH3), conv(CH3, FAC_CHANNELS, kernel_size=1))


@dataclass
class STFANState:
    """What the recurrence carries from one frame to the next, and nothing more."""

    prev_blurry: torch.Tensor  # B_{t-1}, (N, 3, H, W)
    prev_restored: torch.Tensor  # R_{t-1} clamped to [0, 1], (N, 3, H, W)
    features: torch.Tensor  # H_{t-1}, (N, 256, H/4, W/4)

    def detach(self) -> "STFANState":
        return STFANState(self.prev_blurry.detach(), self.prev_restored.detach(), self.features.detach())


class STFAN(nn.Module):
    """The STFAN network; ``fac`` selects the FAC implementation (reference by default).

    Speed options, none of which adds a parameter (state dicts are unchanged) or
    changes the function beyond rounding; all off by default:

    - ``fused_deblur`` may replace ``fac_deblur``'s last layer plus the deblurring
      FAC; only the deblurring filters qualify, the alignment filters are also
      read by ``kconv4``;
    - ``epilogue`` (:mod:`.layers`): every convolution runs without bias and one
      in-place pass adds the bias, applies LeakyReLU and adds a residual;
    - ``warp_tap_major``: the alignment filters are produced and read in the
      tap-major channel order (:mod:`deblur_cli.ops.fac`), which ``fac`` must accept;
    - ``fused_warp`` (:data:`FusedWarpOp`) may replace ``fac_warp``'s last layer, the
      alignment FAC and ``kconv4`` with one kernel that never stores the alignment filters;
    - ``convs`` (:data:`~.layers.ConvOp`): every convolution applies its own bias, LeakyReLU
      and residual (the CPU's oneDNN post-ops, :mod:`deblur_cli.ops.conv_cpu`).

    Activations follow the weights' memory format: a channels_last model turns
    its input channels_last too, so that every add and concatenation sees one layout.
    """

    def __init__(self, fac: FacOp | None = None, fused_deblur: FusedFacOp | None = None) -> None:
        super().__init__()
        self.fac: FacOp = fac or fac_reference
        self.fused_deblur: FusedFacOp | None = fused_deblur
        self.epilogue: EpilogueOp | None = None
        self.warp_tap_major = False
        self.fused_warp: FusedWarpOp | None = None
        self.convs: ConvOp | None = None

        self.fea = conv(2 * CH3, CH3)

        # Encoder of the blurry frame.
        self.conv1_1 = conv(3, CH1)
        self.conv1_2 = ResBlock(CH1)
        self.conv1_3 = ResBlock(CH1)
        self.conv2_1 = conv(CH1, CH2, stride=2)
        self.conv2_2 = ResBlock(CH2)
        self.conv2_3 = ResBlock(CH2)
        self.conv3_1 = conv(CH2, CH3, stride=2)
        self.conv3_2 = ResBlock(CH3)
        self.conv3_3 = ResBlock(CH3)

        # Decoder.
        self.upconv2_u = upconv(2 * CH3, CH2)
        self.upconv2_2 = ResBlock(CH2)
        self.upconv2_1 = ResBlock(CH2)
        self.upconv1_u = upconv(CH2, CH1)
        self.upconv1_2 = ResBlock(CH1)
        self.upconv1_1 = ResBlock(CH1)
        self.img_prd = conv(CH1, 3)

        # Filter-estimation network over concat(B_t, B_{t-1}, R_{t-1}).
        self.kconv1_1 = conv(9, CH1)
        self.kconv1_2 = ResBlock(CH1)
        self.kconv1_3 = ResBlock(CH1)
        self.kconv2_1 = conv(CH1, CH2, stride=2)
        self.kconv2_2 = ResBlock(CH2)
        self.kconv2_3 = ResBlock(CH2)
        self.kconv3_1 = conv(CH2, CH3, stride=2)
        self.kconv3_2 = ResBlock(CH3)
        self.kconv3_3 = ResBlock(CH3)

        self.fac_warp = filter_head(CH3)
        self.kconv4 = conv(FAC_CHANNELS, CH3, kernel_size=1)
        self.fac_deblur = filter_head(2 * CH3)

    def forward(
        self, blurry: torch.Tensor, state: STFANState | None = None
    ) -> tuple[torch.Tensor, STFANState]:
        """One recurrence step; returns the restored frame (unclamped) and the next state.

        ``blurry`` is (N, 3, H, W) in [0, 1] with H and W divisible by 4.
        """
        if blurry.shape[-1] % 4 or blurry.shape[-2] % 4:
            raise ValueError(f"STFAN needs height and width divisible by 4, got {tuple(blurry.shape[-2:])}")
        run = LayerRunner(self.epilogue, self.convs)
        blurry = blurry.contiguous(memory_format=self.memory_format())

        enc1 = run(blurry, self.conv1_1, self.conv1_2, self.conv1_3)
        enc2 = run(enc1, self.conv2_1, self.conv2_2, self.conv2_3)
        enc3 = run(enc2, self.conv3_1, self.conv3_2, self.conv3_3)

        if state is None:
            prev_blurry, prev_restored, prev_features = blurry, blurry, torch.cat([enc3, enc3], 1)
        else:
            prev_blurry, prev_restored, prev_features = state.prev_blurry, state.prev_restored, state.features

        merged = torch.cat([blurry, prev_blurry, prev_restored], 1)
        k1 = run(merged, self.kconv1_1, self.kconv1_2, self.kconv1_3)
        k2 = run(k1, self.kconv2_1, self.kconv2_2, self.kconv2_3)
        k3 = run(k2, self.kconv3_1, self.kconv3_2, self.kconv3_3)
        del enc1, enc2, merged, k1, k2  # full- and half-resolution maps: free them before the 3200-channel filters
        aligned, k4 = self._align(run, k3, run(prev_features, self.fea))
        deblur_input = torch.cat([k3, k4], 1)
        deblurred = self._deblur(run, deblur_input, enc3)
        features = torch.cat([deblurred, aligned], 1)

        # The authors' decoder has no skip connections from the encoder.
        dec2 = run(features, self.upconv2_u, self.upconv2_2, self.upconv2_1)
        dec1 = run(dec2, self.upconv1_u, self.upconv1_2, self.upconv1_1)
        restored = run.conv(dec1, self.img_prd, residual=blurry)

        next_state = STFANState(blurry, restored.clamp(0.0, 1.0), features)
        return restored, next_state

    def memory_format(self) -> torch.memory_format:
        """channels_last when the weights are (``model.to(memory_format=torch.channels_last)``), else NCHW."""
        weight = self.conv1_1[0].weight
        cl = not weight.is_contiguous() and weight.is_contiguous(memory_format=torch.channels_last)
        return torch.channels_last if cl else torch.contiguous_format

    def _align(self, run: LayerRunner, k3: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The aligned features (FAC of ``features`` with the alignment filters) and kconv4 of those filters."""
        head, kconv4 = self.fac_warp, self.kconv4
        if self.fused_warp is not None:
            last, k4conv = head[3][0], kconv4[0]
            return self.fused_warp(run(k3, head[:3]), last.weight, last.bias, features, k4conv.weight, k4conv.bias)
        tap_major = self.warp_tap_major  # then fac_warp emits, kconv4 and the FAC read, the filters tap-major
        warp_filters = run.conv(run(k3, *head[:3]), head[3], tap_major_out=True) if tap_major else run(k3, head)
        k4 = run.conv(warp_filters, kconv4, tap_major_in=tap_major)
        fac_options = {"tap_major": True} if tap_major else {}
        return self.fac(features, warp_filters, **fac_options), k4

    def _deblur(self, run: LayerRunner, head_input: torch.Tensor, enc3: torch.Tensor) -> torch.Tensor:
        """FAC of the encoder features with the deblurring filters (fused when ``fused_deblur`` is set)."""
        head = self.fac_deblur
        if self.fused_deblur is None:
            return self.fac(enc3, run(head_input, head))
        last_conv = head[3][0]
        return self.fused_deblur(run(head_input, head[:3]), last_conv.weight, last_conv.bias, enc3)
