from .mlp import MLP
from .radiance import RadianceField, trunc_exp

__all__ = ["MLP", "RadianceField", "trunc_exp"]
