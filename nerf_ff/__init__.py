"""nerf_ff: NeRF-style radiance fields built around Fourier-feature embeddings."""

__version__ = "0.1.0"
