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

from ..ops.fac import KERNEL_SIZE, FacOp, FusedFacOp, fac_reference

LEAKY_SLOPE = 0.1
CH1, CH2, CH3 = 32, 64, 128
FAC_CHANNELS = CH3 * KERNEL_SIZE * KERNEL_SIZE  # 3200 filter taps per pixel



def conv(cin: int, cout: int, kernel_size: int = 3, stride: int = 1) -> nn.Sequential:
    """Convolution + LeakyReLU(0.1); named ``<name>.0`` like the authors' ``conv``."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=(kernel_size - 1) // 2),
        nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
    )


def upconv(cin: int, cout: int) -> nn.Sequential:
    """Stride-2 transposed convolution (4x4) + LeakyReLU(0.1)."""
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, kernel_size=4, stride=2, padding=1),
        nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
    )


class ResBlock(nn.Module):
    """x + conv(lrelu(conv(x))): no activation after the second convolution or the sum."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        pad = (kernel_size - 1) // 2
        self.stem = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size, padding=pad),
            nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            nn.Conv2d(channels, channels, kernel_size, padding=pad),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x) + x


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

    ``fused_deblur`` (default None: unfused) may replace ``fac_deblur``'s last layer plus
    the deblurring FAC; only the deblurring filters qualify, the alignment filters are
    also read by ``kconv4``. Neither option adds parameters: state dicts are unchanged.
    """

    def __init__(self, fac: FacOp | None = None, fused_deblur: FusedFacOp | None = None) -> None:
        super().__init__()
        self.fac: FacOp = fac or fac_reference
        self.fused_deblur: FusedFacOp | None = fused_deblur

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

        enc1 = self.conv1_3(self.conv1_2(self.conv1_1(blurry)))
        enc2 = self.conv2_3(self.conv2_2(self.conv2_1(enc1)))
        enc3 = self.conv3_3(self.conv3_2(self.conv3_1(enc2)))

        if state is None:
            prev_blurry, prev_restored, prev_features = blurry, blurry, torch.cat([enc3, enc3], 1)
        else:
            prev_blurry, prev_restored, prev_features = state.prev_blurry, state.prev_restored, state.features

        merged = torch.cat([blurry, prev_blurry, prev_restored], 1)
        k1 = self.kconv1_3(self.kconv1_2(self.kconv1_1(merged)))
        k2 = self.kconv2_3(self.kconv2_2(self.kconv2_1(k1)))
        k3 = self.kconv3_3(self.kconv3_2(self.kconv3_1(k2)))
        del enc1, enc2, merged, k1, k2  # full- and half-resolution maps: free them before the 3200-channel filters
        warp_filters = self.fac_warp(k3)
        deblur_input = torch.cat([k3, self.kconv4(warp_filters)], 1)
        aligned = self.fac(self.fea(prev_features), warp_filters)
        del warp_filters  # 3200 channels: free them before the deblurring filters exist (peak memory)
        deblurred = self._deblur(deblur_input, enc3)
        features = torch.cat([deblurred, aligned], 1)

        # The authors' decoder has no skip connections from the encoder.
        dec2 = self.upconv2_1(self.upconv2_2(self.upconv2_u(features)))
        dec1 = self.upconv1_1(self.upconv1_2(self.upconv1_u(dec2)))
        restored = self.img_prd(dec1) + blurry

        next_state = STFANState(blurry, restored.clamp(0.0, 1.0), features)
        return restored, next_state

    def _deblur(self, head_input: torch.Tensor, enc3: torch.Tensor) -> torch.Tensor:
        """FAC of the encoder features with the deblurring filters (fused when ``fused_deblur`` is set)."""
        if self.fused_deblur is None:
            return self.fac(enc3, self.fac_deblur(head_input))
        head = self.fac_deblur
        last_conv = head[3][0]
        return self.fused_deblur(head[2](head[1](head[0](head_input))), last_conv.weight, last_conv.bias, enc3)
