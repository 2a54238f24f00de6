"""Pre-downscaled copies (`images_d/` beside `images/`, as mip-NeRF 360, LLFF and nerfstudio ship them)
are read instead of downscaling the originals, with cameras scaled to their exact size; copies that
do not fit are ignored."""

import json

import numpy as np
import pytest
from PIL import Image

from nerf_ff.config import SceneConfig
from nerf_ff.data import load_scene
from nerf_ff.data.outdoor import write_outdoor_scene

from test_colmap import H, W, small_model, write_scene


def _write_copies(folder, names, size, seed=1):
    """One flat colour per copy (so the mapping is visible); returns the colours by name."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    colours = {}
    for name in names:
        c = rng.integers(0, 256, 3, dtype=np.uint8)
        Image.fromarray(np.broadcast_to(c, (size[1], size[0], 3)).copy()).save(folder / name)
        colours[name] = c
    return colours


def test_colmap_reads_llff_renamed_copies_in_sorted_order(tmp_path):
    model = small_model()
    root = write_scene(tmp_path / "s", model)
    originals = sorted(im.name for im in model.images.values())
    # LLFF renames the copies and changes the suffix; one pixel larger than W/2 x H/2 (rounding up).
    small_w, small_h = W // 2 + 1, H // 2
    renamed = [f"image{k:03d}.png" for k in range(len(originals))]
    colours = _write_copies(root / "images_2", renamed, (small_w, small_h))
    full = load_scene(SceneConfig(name="c", path=str(root)))
    scene = load_scene(SceneConfig(name="c", path=str(root), downscale=2))
    assert "pre-downscaled" in scene.meta["pixels"] and "images_2" in scene.meta["pixels"]
    for split, full_split in ((scene.train, full.train), (scene.test, full.test)):
        assert split.images.shape[1:3] == (small_h, small_w)
        for k, name in enumerate(split.names):
            expect = colours[renamed[originals.index(name)]]
            assert (split.images[k].reshape(-1, 3).numpy() == expect).all()
        cams, ref = split.cameras, full_split.cameras
        assert (cams.width, cams.height) == (small_w, small_h)
        np.testing.assert_allclose(cams.fx.numpy(), ref.fx.numpy() * small_w / W, rtol=1e-6)
        np.testing.assert_allclose(cams.cy.numpy(), ref.cy.numpy() * small_h / H, rtol=1e-6)


def test_copies_that_do_not_fit_are_ignored(tmp_path):
    model = small_model()
    root = write_scene(tmp_path / "s", model)
    names = sorted(im.name for im in model.images.values())
    _write_copies(root / "images_2", names, (W // 3, H // 3))  # a different factor: not these copies
    scene = load_scene(SceneConfig(name="c", path=str(root), downscale=2))
    assert scene.meta["pixels"] == "originals, area-downscaled by 2"
    assert scene.train.images.shape[1:3] == (H // 2, W // 2)
    # too few copies for the order rule, and names that match none: the originals again
    (root / "images_2" / names[0]).unlink()
    assert load_scene(SceneConfig(name="c", path=str(root), downscale=2)).meta["pixels"].startswith("originals")
    # downscale 1 never looks at copies
    assert load_scene(SceneConfig(name="c", path=str(root))).meta["pixels"] == "originals"


@pytest.mark.parametrize("with_size", [True, False])
def test_nerfstudio_copies_by_name(tmp_path, with_size):
    root = write_outdoor_scene(tmp_path / "o", "ngp", 16, 32, 24)
    doc = json.loads((root / "transforms.json").read_text())
    if not with_size:  # without w / h nothing says what the copies should measure: originals
        del doc["w"], doc["h"]
        (root / "transforms.json").write_text(json.dumps(doc))
    names = [f["file_path"].split("/")[-1] for f in doc["frames"]]
    colours = _write_copies(root / "images_2", names, (16, 12))
    scene = load_scene(SceneConfig(name="o", path=str(root), downscale=2))
    assert scene.train.images.shape[1:3] == (12, 16)
    first = scene.train.names[0].split("/")[-1]
    flat = (scene.train.images[0].reshape(-1, 3).numpy() == colours[first]).all()
    assert flat == with_size
    assert ("pre-downscaled" in scene.meta["pixels"]) == with_size
    assert float(scene.train.cameras.fx[0]) == pytest.approx(doc["fl_x"] / 2)


def test_copies_of_a_factor_are_downscaled_the_rest_of_the_way(tmp_path):
    """downscale 4 with only images_2/: the copies, halved (the CPU's automatic downscale 16 of a 4032-px
    capture that ships images_8/); the same size and cameras as the originals downscaled by 4."""
    model = small_model()
    root = write_scene(tmp_path / "s", model)
    names = sorted(im.name for im in model.images.values())
    ref = load_scene(SceneConfig(name="c", path=str(root), downscale=4))  # the originals, before the copies
    assert ref.meta["pixels"] == "originals, area-downscaled by 4"
    colours = _write_copies(root / "images_2", names, (W // 2, H // 2))
    scene = load_scene(SceneConfig(name="c", path=str(root), downscale=4))
    assert scene.meta["pixels"] == f"pre-downscaled copies in {root / 'images_2'}, area-downscaled by 2 more"
    assert scene.train.images.shape[1:3] == (H // 4, W // 4)
    for k, name in enumerate(scene.train.names):
        assert (scene.train.images[k].reshape(-1, 3).numpy() == colours[name]).all()
    np.testing.assert_allclose(scene.train.cameras.fx.numpy(), ref.train.cameras.fx.numpy(), rtol=1e-6)
    # downscale 3 has no factor with copies: the originals
    assert load_scene(SceneConfig(name="c", path=str(root), downscale=3)).meta["pixels"] == "originals, area-downscaled by 3"
