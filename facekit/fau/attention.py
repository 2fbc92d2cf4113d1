"""Patch attention over landmark-centred patches: D-PAttNet's idea (Ertugrul et al., 2019) on the FAU heatmap model.

D-PAttNet does not look at the whole face at once: it cuts patches centred on facial landmarks, encodes each patch,
and learns a *sigmoid* attention weight per patch (not a softmax, so several patches can matter at once and none is
forced to), then predicts each AU from the attention-weighted patch features.

On our heatmap ResNet the component sits in the model's ``refine`` slot, between ``deconv_layers`` and
``final_layer`` (switched on by ``FAUConfig(patch_attention=True)``; the output shape does not change):

1. ``roi_align`` pools a small square of the deconvolution features around each AU point (10 points: left and right
   of AU6, AU10, AU12, AU14, AU17) -> one C-dimensional descriptor per patch;
2. a shared two-layer encoder + a per-patch linear score give one sigmoid attention weight ``a_m`` per patch;
3. the features are gated near the points, ``x * (1 + sum_m a_m G_m)``, and each patch's attention-weighted
   descriptor is written back around its point, ``+ sum_m G_m a_m W e_m`` (``G_m`` a Gaussian at point ``m``;
   ``W`` starts at zero, so an untrained component is the identity and the baseline is where training starts).

Points come from the face's landmarks (``model(x, points=...)``, (B, 5, 2, 2) or (B, 10, 2) input-image pixels, the
layout of :func:`facekit.fau.heatmaps.make_heatmaps`). Called without points (``model(x)``, e.g. by Grad-CAM or a
webcam demo with no landmark detector) the module falls back to ``default_points``: a running mean of the points
seen in training, kept like BatchNorm's running statistics and saved in the checkpoint. That is the registration
assumption (every face at the average position), and the notebook measures what it costs.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import roi_align


class PatchAttention(nn.Module):
    """Landmark-centred patch attention on a (B, C, H, W) feature map; returns the same shape.

    ``channels``: C; ``num_points``: patches (AUs x points per AU); ``input_size``: side of the model's input image,
    to convert point coordinates; ``patch_frac``: patch side as a fraction of the map side; ``sigma_frac``: width of
    the Gaussian that writes a patch back, as a fraction of the map side.
    """

    def __init__(self, channels: int, num_points: int = 10, input_size: int = 128, patch_frac: float = 0.25,
                 sigma_frac: float = 0.08, pool: int = 3, hidden: int = 32, momentum: float = 0.05):
        super().__init__()
        self.channels, self.num_points, self.input_size = channels, num_points, input_size
        self.patch_frac, self.sigma_frac, self.pool, self.momentum = patch_frac, sigma_frac, pool, momentum
        self.encode = nn.Sequential(nn.Linear(channels * pool * pool, hidden), nn.ReLU(inplace=True))
        self.score = nn.Parameter(torch.zeros(num_points, hidden))   # per-patch attention score (D-PAttNet)
        self.score_bias = nn.Parameter(torch.zeros(num_points))
        self.write = nn.Linear(hidden, channels)
        nn.init.zeros_(self.write.weight)
        nn.init.zeros_(self.write.bias)
        # Where points are assumed when none are given: the running mean of training points, in [0, 1] of the image.
        grid = torch.linspace(0.3, 0.7, num_points)
        self.register_buffer("default_points", torch.stack([grid, grid.flip(0)], dim=1))
        self.last_attention: torch.Tensor | None = None

    def _normalise_points(self, points: torch.Tensor, batch: int) -> torch.Tensor:
        points = torch.as_tensor(points, dtype=torch.float32)
        if points.ndim == 4:
            points = points.flatten(1, 2)
        if points.ndim != 3 or points.shape[1:] != (self.num_points, 2) or points.shape[0] != batch:
            raise ValueError(f"PatchAttention: points must be ({batch}, {self.num_points}, 2) or ({batch}, AUs, "
                             f"points per AU, 2) pixel (x, y) coordinates of the input image, got "
                             f"{tuple(points.shape)}. Pass the batch's AU points, e.g. model(x, points=batch_points).")
        return points / self.input_size

    def forward(self, x: torch.Tensor, points: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        if points is None:
            rel = self.default_points.unsqueeze(0).expand(b, -1, -1)
        else:
            rel = self._normalise_points(points.to(x.device), b)
            if self.training:
                with torch.no_grad():
                    self.default_points.lerp_(rel.mean(0), self.momentum)
        centre = rel * torch.tensor([w, h], dtype=x.dtype, device=x.device)          # map pixels, (B, M, 2)
        half = self.patch_frac * w / 2
        boxes = torch.cat([centre - half, centre + half], dim=2).reshape(-1, 4)       # (B*M, 4) x1 y1 x2 y2
        batch_idx = torch.arange(b, device=x.device, dtype=x.dtype).repeat_interleave(self.num_points)
        patches = roi_align(x, torch.cat([batch_idx[:, None], boxes], dim=1), output_size=self.pool,
                            spatial_scale=1.0, sampling_ratio=2, aligned=True)        # (B*M, C, pool, pool)
        e = self.encode(patches.flatten(1)).view(b, self.num_points, -1)             # (B, M, hidden)
        attn = torch.sigmoid((e * self.score).sum(-1) + self.score_bias)               # (B, M)
        self.last_attention = attn.detach()
        ys = torch.arange(h, dtype=x.dtype, device=x.device).view(1, 1, h, 1)
        xs = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, 1, w)
        sigma = self.sigma_frac * w
        gauss = torch.exp(-((xs - centre[..., 0, None, None] + 0.5) ** 2 + (ys - centre[..., 1, None, None] + 0.5) ** 2)
                          / (2 * sigma ** 2))                                           # (B, M, H, W)
        weighted = gauss * attn[..., None, None]
        gate = 1 + weighted.sum(1, keepdim=True)                                        # (B, 1, H, W)
        inject = torch.einsum("bmhw,bmc->bchw", weighted, self.write(e))
        return x * gate + inject

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, num_points={self.num_points}, input_size={self.input_size}, "
                f"patch_frac={self.patch_frac}, pool={self.pool}")


def attention_weights(model: nn.Module, images: torch.Tensor, points: torch.Tensor | None = None) -> torch.Tensor:
    """(B, num_points) sigmoid patch weights the model's attention gives these faces (raises if it has none)."""
    refine = getattr(model, "refine", None)
    if not isinstance(refine, PatchAttention):
        raise ValueError("This model has no patch attention: build it with FAUConfig(patch_attention=True) or load "
                         "data/checkpoints/fau_resnet_patchattn.pt.")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(images) if points is None else model(images, points=points)
    model.train(was_training)
    return refine.last_attention.clone()
