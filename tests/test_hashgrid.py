"""Hash-grid encoding: layout, exact d-linear interpolation, dense vs hashed levels, gradients, and a
fitting sanity check against the raw coordinates."""

import itertools
import json

import pytest
import torch
from conftest import TINY_RUN

from nerf_ff.config import ModelConfig, RunConfig
from nerf_ff.data import load_scene
from nerf_ff.encodings import make_position_encoding
from nerf_ff.encodings.hashgrid import HashGrid, level_resolutions
from nerf_ff.errors import UserError
from nerf_ff.trainer import Trainer

P1, P2 = 2654435761, 805459861  # instant-ngp's primes, written out independently of the module


def randomise(grid: HashGrid, seed: int = 0) -> HashGrid:
    """Replace the tiny initial table by O(1) values so interpolation errors are visible."""
    with torch.no_grad():
        grid.table.copy_(torch.randn(grid.table.shape, generator=torch.Generator().manual_seed(seed)))
    return grid


def test_shapes_levels_and_registry():
    cfg = ModelConfig(encoding="hashgrid", hashgrid_levels=6, hashgrid_log2_size=12, hashgrid_features=4,
                      hashgrid_base_resolution=4, hashgrid_max_resolution=128, include_input=True)
    enc = make_position_encoding(cfg)
    assert isinstance(enc, HashGrid) and enc.out_dim == 6 * 4 + 3
    assert enc(torch.rand(10, 3)).shape == (10, 27)
    assert enc.resolutions[0] == 4 and enc.resolutions[-1] == 128
    ratios = [b / a for a, b in zip(enc.resolutions, enc.resolutions[1:])]
    assert max(ratios) / min(ratios) < 1.15  # geometric growth, up to flooring
    no_input = HashGrid(2, levels=3, log2_size=8, features=2, base_resolution=2, max_resolution=8)
    assert no_input.out_dim == 6 and no_input(torch.rand(7, 2)).shape == (7, 6)
    assert level_resolutions(1, 16, 2048) == [16]
    assert level_resolutions(8, 16, 2048) == [16 * 2**k for k in range(8)]  # exact powers survive flooring
    init = HashGrid(3, levels=2, log2_size=10)
    assert init.table.abs().max() <= 1e-4 and init.table.abs().max() > 0
    with pytest.raises(UserError):
        HashGrid(3, base_resolution=64, max_resolution=16)


def test_exact_at_vertices_and_linear_along_edges_on_a_dense_level():
    R = 4
    grid = randomise(HashGrid(3, levels=1, log2_size=7, features=2, base_resolution=R, max_resolution=R))
    assert grid.hashed == [False] and grid.level_sizes == [(R + 1) ** 3]
    table = grid.table.detach()
    verts = torch.tensor(list(itertools.product(range(R + 1), repeat=3)))  # [125, 3], includes x01 = 1
    out = grid(verts.float() / R)
    expected = table[verts[:, 0] + (R + 1) * verts[:, 1] + (R + 1) ** 2 * verts[:, 2]]
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    # Along the edge from vertex a to a + e_y: (1 - t) v_a + t v_b.
    a = torch.tensor([1, 2, 3])
    b = a + torch.tensor([0, 1, 0])
    t = torch.linspace(0, 1, 11)[:, None]
    x = (a + t * (b - a)) / R
    va, vb = grid(a[None].float() / R), grid(b[None].float() / R)
    torch.testing.assert_close(grid(x), (1 - t) * va + t * vb, rtol=0, atol=1e-6)
    # Inside a cell the value is the trilinear blend of its 8 corners, by hand.
    f = torch.tensor([0.3, 0.6, 0.85])
    blend = sum(torch.prod(torch.where(torch.tensor(c).bool(), f, 1 - f))
                * grid((a + torch.tensor(c))[None].float() / R)
                for c in itertools.product((0, 1), repeat=3))
    torch.testing.assert_close(grid((a + f)[None] / R), blend, rtol=0, atol=1e-6)


def test_outside_the_box_is_clamped():
    grid = randomise(HashGrid(3, levels=3, log2_size=8, base_resolution=2, max_resolution=16))
    x = torch.tensor([[-0.5, 0.3, 1.7], [2.0, -3.0, 0.5]])
    torch.testing.assert_close(grid(x), grid(x.clamp(0, 1)), rtol=0, atol=0)


def entry_hits(grid: HashGrid, x: torch.Tensor) -> torch.Tensor:
    """How many of the query points x sit on each table entry: d(sum of outputs)/d(table) [rows]."""
    grid.table.grad = None
    grid(x)[:, 0].sum().backward()
    return grid.table.grad[:, 0].clone()


def test_dense_indexing_only_while_the_level_fits_and_the_hash_beyond():
    # Levels 4, 8, 16, 32 cells per side against a 1024-entry table: 125 and 729 vertices fit, 4913 do not.
    grid = HashGrid(3, levels=4, log2_size=10, features=1, base_resolution=4, max_resolution=32)
    assert grid.resolutions == [4, 8, 16, 32]
    assert grid.hashed == [False, False, True, True]
    assert grid.level_sizes == [125, 729, 1024, 1024]
    # Querying every vertex of the 8-cell level once: a dense level gives each vertex its own entry.
    R = 8
    verts = torch.tensor(list(itertools.product(range(R + 1), repeat=3)))
    single = HashGrid(3, levels=1, log2_size=10, features=1, base_resolution=R, max_resolution=R)
    assert torch.equal(entry_hits(single, verts.float() / R), torch.ones(729))
    # The same vertices on a level too large for a 128-entry table: entries are shared as instant-ngp's
    # hash (x * 1 xor y * P1 xor z * P2) mod T says, computed here with Python integers.
    hashed = HashGrid(3, levels=1, log2_size=7, features=1, base_resolution=R, max_resolution=R)
    assert hashed.hashed == [True]
    counts = torch.zeros(128)
    for i, j, k in verts.tolist():
        counts[(i ^ (j * P1) ^ (k * P2)) % 128] += 1
    assert torch.equal(entry_hits(hashed, verts.float() / R), counts)
    assert counts.max() > 1  # collisions do happen: 729 vertices in 128 entries


def test_gradients_reach_the_table():
    grid = randomise(HashGrid(3, levels=4, log2_size=9, features=2, base_resolution=4, max_resolution=32))
    x = torch.rand(64, 3, generator=torch.Generator().manual_seed(1))
    weights = torch.randn(grid.out_dim, generator=torch.Generator().manual_seed(2))
    loss = (grid(x) @ weights).square().sum()
    loss.backward()
    g = grid.table.grad
    assert torch.isfinite(g).all() and (g != 0).any()
    # Finite difference on the entry with the largest gradient.
    row, col = divmod(int(g.abs().argmax()), g.shape[1])
    with torch.no_grad():
        eps = 1e-3
        grid.table[row, col] += eps
        up = (grid(x) @ weights).square().sum()
        grid.table[row, col] -= 2 * eps
        down = (grid(x) @ weights).square().sum()
    assert abs(float((up - down) / (2 * eps)) - float(g[row, col])) < 1e-2 * float(g[row, col].abs())


def test_float32_under_autocast():
    grid = randomise(HashGrid(3, levels=2, log2_size=8, base_resolution=4, max_resolution=8))
    x = torch.rand(16, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = grid(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, grid(x), rtol=0, atol=0)


def fit(encoding, coords, target, steps=300, lr=1e-2):
    """A small MLP on top of `encoding`, fitted by Adam; returns the model."""
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(encoding.out_dim, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32),
                              torch.nn.ReLU(), torch.nn.Linear(32, 1))
    model = torch.nn.Sequential(encoding, mlp)
    opt = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-15)
    for _ in range(steps):
        loss = (model(coords).squeeze(-1) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def test_hash_grid_fits_a_high_frequency_function_better_than_raw_coordinates():
    from nerf_ff.encodings import Identity

    def f(xy):  # 6 cycles per unit along each axis
        return torch.sin(2 * torch.pi * 6 * xy[:, 0]) * torch.cos(2 * torch.pi * 6 * xy[:, 1])

    gen = torch.Generator().manual_seed(0)
    train, held = torch.rand(2048, 2, generator=gen), torch.rand(1024, 2, generator=gen)
    torch.manual_seed(0)
    grid = HashGrid(2, levels=6, log2_size=10, features=2, base_resolution=4, max_resolution=64)
    mse = {}
    for name, enc in (("none", Identity(2)), ("hashgrid", grid)):
        model = fit(enc, train, f(train))
        with torch.no_grad():
            mse[name] = float((model(held).squeeze(-1) - f(held)).square().mean())
    # The target's variance is 0.25: raw coordinates barely fit it in 300 steps, the grid does
    # (held-out MSE about 0.27 against 0.01-0.02).
    assert mse["hashgrid"] < 0.05 and mse["hashgrid"] < 0.2 * mse["none"], mse


def test_trainer_keeps_weight_decay_off_the_hash_table(tmp_path):
    tiny = json.loads(json.dumps(TINY_RUN))
    tiny["model"].update(encoding="hashgrid", hashgrid_levels=4, hashgrid_log2_size=12, hashgrid_base_resolution=4,
                         hashgrid_max_resolution=32)
    tiny["train"]["steps"] = 3
    cfg = RunConfig.from_dict(tiny).validate()
    trainer = Trainer(cfg, load_scene(cfg.scene), tmp_path, progress=False)
    table = trainer.model.field.pos_enc.table
    (group,) = [g for g in trainer.optimizer.param_groups if any(p is table for p in g["params"])]
    assert group["weight_decay"] == 0.0 and len(group["params"]) == 1
    others = [g for g in trainer.optimizer.param_groups if g is not group]
    assert all(g["weight_decay"] == cfg.train.weight_decay for g in others)
    n_params = sum(p.numel() for g in trainer.optimizer.param_groups for p in g["params"])
    assert n_params == sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    before = table.detach().clone()
    assert trainer.fit()["steps"] == 3
    assert not torch.equal(before, table.detach())  # the table trains


def test_every_encoding_and_the_hash_grid_field_take_no_points():
    """A chunk of rays whose samples were all skipped reaches the field with none (it crashed the hash grid
    in an evaluation after training): every encoding gives [0, out_dim], the field [0, 3] and [0], and the
    gradient still flows."""
    from nerf_ff.config import DIR_ENCODINGS, ENCODINGS  # noqa: PLC0415
    from nerf_ff.encodings import make_direction_encoding  # noqa: PLC0415
    from nerf_ff.fields.radiance import RadianceField  # noqa: PLC0415

    for name in ENCODINGS:
        enc = make_position_encoding(ModelConfig(encoding=name))
        assert enc(torch.zeros(0, 3)).shape == (0, enc.out_dim), name
    for name in DIR_ENCODINGS:
        enc = make_direction_encoding(ModelConfig(dir_encoding=name))
        assert enc is None or enc(torch.zeros(0, 3)).shape == (0, enc.out_dim), name
    field = RadianceField(ModelConfig(encoding="hashgrid", hashgrid_log2_size=10), torch.tensor([-1.0, -1, -1, 1, 1, 1]))
    rgb, sigma = field(torch.zeros(0, 3), torch.zeros(0, 3))
    assert rgb.shape == (0, 3) and sigma.shape == (0,)
    (rgb.sum() + sigma.sum()).backward()
    assert field.pos_enc.table.grad is not None and not field.pos_enc.table.grad.any()
