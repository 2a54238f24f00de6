from .occupancy import OccupancyGrid
from .schedule import ray_aabb
from .sampler import RaySampler
from .uniform import uniform_sampling

__all__ = ["OccupancyGrid", "RaySampler", "ray_aabb", "uniform_sampling"]
