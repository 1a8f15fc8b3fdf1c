"""Smooth camera (and object) motion with hand shake, evaluable at any instant.

Motion blur in video is the path the image travels while the shutter is open,
so a blur synthesiser needs the pose at arbitrary sub-frame times, not only at
frame times. A :class:`Trajectory` is a closed-form function of time: a steady
drift plus a few sinusoidal velocity components (hand shake, slow sway). Being
analytic it is smooth, cheap, deterministic and needs no integration.

Units: time in frame intervals (t = 0 is the middle of the clip); a pose is
``(tx, ty, angle, log_zoom)`` with translation in output pixels and the angle in
radians. A pose maps an output pixel ``u`` (centred coordinates) to the scene
point ``exp(log_zoom) * R(angle) @ u + (tx, ty)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

POSE_DIMS = 4  # tx, ty, angle, log_zoom


@dataclass(frozen=True)
class MotionRange:
    """How strong a family of motions may be; each clip draws its own values inside it."""

    pan_speed: tuple[float, float] = (0.0, 12.0)  # steady drift, px per frame
    shake_speed: tuple[float, float] = (0.0, 24.0)  # peak shake velocity per axis, px per frame
    shake_freq: tuple[float, float] = (0.05, 0.6)  # cycles per frame (hand tremor is ~0.3 at 30 fps)
    rotation_speed: float = 0.01  # peak angular velocity, rad per frame
    zoom_speed: float = 0.01  # peak log-zoom velocity per frame
    components: int = 3  # sinusoids per pose dimension


@dataclass(frozen=True)
class Trajectory:
    """pose(t) = drift * t + sum_k amp_k / w_k * (sin(w_k t + phase_k) - sin(phase_k)).

    The velocity is therefore ``drift + sum_k amp_k cos(w_k t + phase_k)``:
    ``amp`` is a velocity amplitude (px or rad per frame), which is what sets the
    blur length. ``pose(0)`` is ``start`` (the identity for a camera).
    """

    drift: torch.Tensor  # (4,)
    amp: torch.Tensor  # (K, 4)
    omega: torch.Tensor  # (K, 4) angular frequency, rad per frame
    phase: torch.Tensor  # (K, 4)
    start: torch.Tensor | None = None  # (4,) pose at t = 0; None means the identity

    def pose(self, times: torch.Tensor) -> torch.Tensor:
        """Poses at ``times`` (N,) -> (N, 4), float64 for exact sub-pixel sums."""
        t = times.to(torch.float64).reshape(-1, 1)
        start = torch.zeros(POSE_DIMS, dtype=torch.float64) if self.start is None else self.start
        return poses_at(t, self.drift, self.amp, self.omega, self.phase, start)

    def velocity(self, times: torch.Tensor) -> torch.Tensor:
        t = times.to(torch.float64).reshape(-1, 1, 1)
        return self.drift + (self.amp * torch.cos(self.omega * t + self.phase)).sum(dim=1)

    def scaled(self, factor: float) -> "Trajectory":
        """The same path shape at ``factor`` times the speed (every pose dimension)."""
        return Trajectory(self.drift * factor, self.amp * factor, self.omega, self.phase, self.start)

    def linear(self) -> "Trajectory":
        """Only the steady drift: a straight path at constant speed."""
        return Trajectory(self.drift, torch.zeros_like(self.amp), self.omega, self.phase, self.start)

    def params(self, components: int = 3) -> torch.Tensor:
        """(4 + 3 * components * 4 + 4,) float64: drift, amp, omega, phase, start (zero-padded components).

        The packed form :func:`poses_at_packed` evaluates, many trajectories at once, on any device.
        """
        k = self.amp.shape[0]
        if k > components:
            raise ValueError(f"trajectory has {k} components, more than {components}")
        pad = lambda x, fill: torch.cat([x, torch.full((components - k, POSE_DIMS), fill, dtype=x.dtype)])  # noqa: E731
        start = torch.zeros(POSE_DIMS, dtype=torch.float64) if self.start is None else self.start
        return torch.cat([self.drift, pad(self.amp, 0.0).flatten(), pad(self.omega, 1.0).flatten(),
                          pad(self.phase, 0.0).flatten(), start])


def poses_at(t: torch.Tensor, drift: torch.Tensor, amp: torch.Tensor, omega: torch.Tensor, phase: torch.Tensor,
             start: torch.Tensor) -> torch.Tensor:
    """The one pose formula. ``t`` (..., 1) times; drift/start (..., 4); amp/omega/phase (..., K, 4) -> (..., 4).

    pose(t) = start + drift * t + sum_k amp_k / omega_k * (sin(omega_k t + phase_k) - sin(phase_k)).
    """
    tk = t.unsqueeze(-1)
    osc = amp / omega * (torch.sin(omega * tk + phase) - torch.sin(phase))
    return start + drift * t + osc.sum(dim=-2)


def poses_at_packed(params: torch.Tensor, times: torch.Tensor, components: int = 3) -> torch.Tensor:
    """Poses of packed trajectories (see :meth:`Trajectory.params`): params (..., P), times (...) -> (..., 4)."""
    k4 = components * POSE_DIMS
    lead = params.shape[:-1]
    drift = params[..., :POSE_DIMS]
    amp = params[..., POSE_DIMS:POSE_DIMS + k4].reshape(*lead, components, POSE_DIMS)
    omega = params[..., POSE_DIMS + k4:POSE_DIMS + 2 * k4].reshape(*lead, components, POSE_DIMS)
    phase = params[..., POSE_DIMS + 2 * k4:POSE_DIMS + 3 * k4].reshape(*lead, components, POSE_DIMS)
    start = params[..., POSE_DIMS + 3 * k4:]
    return poses_at(times.unsqueeze(-1), drift, amp, omega, phase, start)


def _uniform(gen: torch.Generator, lo: float, hi: float, shape: tuple[int, ...] = ()) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float64)


def _log_uniform(gen: torch.Generator, lo: float, hi: float, shape: tuple[int, ...] = ()) -> torch.Tensor:
    return torch.exp(_uniform(gen, math.log(lo), math.log(hi), shape))


def sample_trajectory(gen: torch.Generator, motion: MotionRange) -> Trajectory:
    """Draw one clip's camera motion: a drift in a random direction plus random shake."""
    k = motion.components
    heading = _uniform(gen, 0.0, 2 * math.pi)
    speed = _uniform(gen, *motion.pan_speed)
    drift = torch.zeros(POSE_DIMS, dtype=torch.float64)
    drift[0], drift[1] = speed * torch.cos(heading), speed * torch.sin(heading)
    drift[2] = _uniform(gen, -0.5, 0.5) * motion.rotation_speed
    drift[3] = _uniform(gen, -0.5, 0.5) * motion.zoom_speed

    # Split each dimension's peak velocity over K components with random weights.
    weights = torch.rand((k, POSE_DIMS), generator=gen, dtype=torch.float64) + 0.05
    weights = weights / weights.sum(dim=0, keepdim=True)
    peak = torch.stack([
        _uniform(gen, *motion.shake_speed),
        _uniform(gen, *motion.shake_speed),
        _uniform(gen, 0.0, motion.rotation_speed),
        _uniform(gen, 0.0, motion.zoom_speed),
    ])
    amp = weights * peak
    freq = _log_uniform(gen, max(motion.shake_freq[0], 1e-3), max(motion.shake_freq[1], 1e-3), (k, POSE_DIMS))
    phase = _uniform(gen, 0.0, 2 * math.pi, (k, POSE_DIMS))
    return Trajectory(drift, amp, 2 * math.pi * freq, phase)


def sample_object_path(gen: torch.Generator, frame_hw: tuple[int, int], speed: tuple[float, float]) -> Trajectory:
    """An independently moving object: starts somewhere in view, moves with slight curvature and spin."""
    h, w = frame_hw
    heading = _uniform(gen, 0.0, 2 * math.pi)
    v = _uniform(gen, *speed)
    drift = torch.tensor([v * math.cos(heading), v * math.sin(heading), 0.0, 0.0], dtype=torch.float64)
    drift[2] = _uniform(gen, -0.03, 0.03)
    amp = torch.zeros((1, POSE_DIMS), dtype=torch.float64)
    amp[0, :2] = _uniform(gen, 0.0, 0.3, (2,)) * max(v.item(), 1.0)
    omega = 2 * math.pi * _uniform(gen, 0.02, 0.15, (1, POSE_DIMS))
    phase = _uniform(gen, 0.0, 2 * math.pi, (1, POSE_DIMS))
    start = torch.tensor([
        _uniform(gen, -0.4, 0.4).item() * w,
        _uniform(gen, -0.4, 0.4).item() * h,
        _uniform(gen, -math.pi, math.pi).item(),
        0.0,
    ], dtype=torch.float64)
    return Trajectory(drift, amp, omega, phase, start)


def pose_to_affine(poses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 4) poses -> (A (N, 2, 2), b (N, 2)) with scene point = A @ u + b."""
    angle, scale = poses[:, 2], torch.exp(poses[:, 3])
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    a = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    return a, poses[:, :2]


def corner_points(frame_hw: tuple[int, int]) -> torch.Tensor:
    """The frame's four corners and centre in centred pixel coordinates, (5, 2) as (x, y)."""
    h, w = frame_hw
    x, y = (w - 1) / 2, (h - 1) / 2
    return torch.tensor([[-x, -y], [x, -y], [-x, y], [x, y], [0.0, 0.0]], dtype=torch.float64)


def point_paths(poses: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Where ``points`` (P, 2) land under each pose (N, 4) -> (N, P, 2)."""
    a, b = pose_to_affine(poses)
    return torch.einsum("nij,pj->npi", a, points) + b[:, None, :]


def path_length(poses: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Longest distance travelled by any of ``points`` along consecutive poses (N, 4): the blur length in px."""
    paths = point_paths(poses, points)
    if paths.shape[0] < 2:
        return torch.zeros((), dtype=torch.float64)
    return (paths[1:] - paths[:-1]).norm(dim=-1).sum(dim=0).max()
