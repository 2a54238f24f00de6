"""Encodings registry: config name → module. All Fourier variants are `FourierFeatures(B)`."""

from __future__ import annotations

from ..config import ModelConfig
from ..errors import UserError
from .fourier import (Encoding, FourierFeatures, Identity, SphericalHarmonics, basic_B, gaussian_B,
                      posenc_B)

__all__ = ["Encoding", "FourierFeatures", "Identity", "SphericalHarmonics", "make_position_encoding",
           "make_direction_encoding", "basic_B", "gaussian_B", "posenc_B"]


def make_position_encoding(cfg: ModelConfig, in_dim: int = 3) -> Encoding:
    """The position embedding named by `cfg.encoding`, for inputs normalised to [0,1]^in_dim."""
    name = cfg.encoding
    if name == "none":
        return Identity(in_dim)
    if name == "basic":
        return FourierFeatures(basic_B(in_dim), cfg.include_input)
    if name == "posenc":
        return FourierFeatures(posenc_B(cfg.posenc_levels, in_dim), cfg.include_input)
    if name in ("gaussian", "learned"):
        B = gaussian_B(cfg.n_features, cfg.sigma, cfg.encoding_seed, in_dim)
        return FourierFeatures(B, cfg.include_input, learnable=(name == "learned"))
    if name == "hashgrid":
        from .hashgrid import HashGrid  # noqa: PLC0415 (reference encoding, imported on demand)

        return HashGrid.from_config(cfg, in_dim)
    raise UserError(f"unknown encoding {name!r}; use none, basic, posenc, gaussian, learned or hashgrid")


def make_direction_encoding(cfg: ModelConfig) -> Encoding:
    """View-direction embedding of unit vectors: SH bands, or positional levels on (d+1)/2."""
    if cfg.dir_encoding == "sh":
        return SphericalHarmonics(min(cfg.dir_degree, 5))
    if cfg.dir_encoding == "posenc":
        return FourierFeatures(posenc_B(cfg.dir_degree, 3), include_input=True)
    return Identity(3)
