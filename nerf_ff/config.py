"""Typed run configuration: dataclasses, YAML load/dump, layered overrides.

A run's config is built in layers, later ones winning:
    defaults (below) < [automatic defaults, autoconfig.py, without a preset] < scene YAML
    (scenes/*.yaml) < presets (configs/*.yaml) < command-line flags < --set section.key=value
Every layer uses the same schema: a mapping with the sections `scene`, `model`, `sampler`,
`train`, `eval`; `config_layers` collects them for a scene, presets, flags and --set items and
`compose` applies them (the CLI and sweeps both build run configs this way). A value `null` (YAML) or
`--set section.key=null` unsets an optional field. The resolved config is written next to every run
as `config.yaml` and read back by `eval`, `render` and `--resume`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from .errors import UserError

ENCODINGS = ("none", "basic", "posenc", "gaussian", "learned", "hashgrid")
DIR_ENCODINGS = ("sh", "posenc", "none")


@dataclass
class SceneConfig:
    name: str = "builtin"
    """Scene name used in run folders and reports."""
    path: Optional[str] = None
    """Dataset folder. `{datasets}` expands to $NERF_FF_DATASETS or ../shared/datasets next to the
    project; other relative paths are taken from the YAML file's folder."""
    format: str = "auto"
    """auto | blender | ngp | colmap | builtin. `auto` detects the format from the folder's files."""
    kind: str = "auto"
    """auto | object | unbounded. object: everything inside `aabb`, positions normalised to it.
    unbounded: `aabb` is the region of interest and space beyond it is contracted into a shell
    (nerf_ff/space.py). auto: unbounded for opaque captured photos (transforms.json, COLMAP), object
    for NeRF-synthetic, RGBA captures and the built-in scene."""
    downscale: int = 1
    """Integer image downscale factor applied on load (area interpolation; a dataset's images_N/ copies
    where they fit). With no preset and no layer setting it, `nerf-ff train` picks it for the device
    (long side <= 256 px on a CPU, <= 1600 px on CUDA; autoconfig.py) and records it in config.yaml."""
    aabb: Optional[list] = None
    """Scene box [xmin, ymin, zmin, xmax, ymax, zmax] in world units (the region of interest of an
    unbounded scene); None: from the data (nerf_ff/data/bounds.py: cameras, masks, sparse points)."""
    near: Optional[float] = None
    """Ray start distance; None: from the cameras and the box."""
    far: Optional[float] = None
    """Ray end distance; None: from the cameras and the box (unbounded: far beyond the cameras)."""
    background: list = field(default_factory=lambda: [1.0, 1.0, 1.0])
    """Evaluation background colour for RGBA images (white for NeRF-synthetic)."""
    random_background: bool = True
    """Train RGBA scenes on a random background per ray, so transparency is learned."""
    test_every: int = 8
    """Held-out split for sources without one: every N-th frame (0, N, 2N, ...) is a test view."""
    grid_levels: Optional[int] = None
    """Occupancy-grid cascades (each doubles the box); None: from the data (ngp aabb_scale)."""
    builtin_resolution: int = 64
    """Image size of the built-in procedural scene."""
    builtin_views: int = 60
    """Number of training views of the built-in procedural scene."""


@dataclass
class ModelConfig:
    encoding: str = "gaussian"
    """Position embedding: none | basic | posenc | gaussian | learned | hashgrid."""
    sigma: float = 8.0
    """Gaussian / learned scale, in cycles per scene box (world-unit sigma x box size)."""
    n_features: int = 256
    """Number of Fourier frequencies m for gaussian / learned (2m features)."""
    posenc_levels: int = 8
    """NeRF positional encoding levels L (frequencies 2^0..2^(L-1) cycles per box)."""
    include_input: bool = True
    """Append the normalised position itself to the features."""
    encoding_seed: int = 0
    """Seed of the Gaussian draw B; independent of the training seed so a sigma sweep shares B."""
    hashgrid_levels: int = 16
    hashgrid_log2_size: int = 19
    hashgrid_features: int = 2
    hashgrid_base_resolution: int = 16
    hashgrid_max_resolution: int = 2048
    width: int = 256
    """Hidden width of the density trunk."""
    depth: int = 4
    """Number of hidden layers of the density trunk."""
    geo_features: int = 15
    """Trunk features passed to the colour head (besides density)."""
    view_dependent: bool = True
    """Feed the view direction to the colour head."""
    dir_encoding: str = "sh"
    """Direction embedding: sh (spherical harmonics) | posenc | none."""
    dir_degree: int = 4
    """SH degree (number of bands) or posenc levels of the direction embedding."""
    color_width: int = 128
    color_depth: int = 2
    density_bias: float = -1.0
    """Initial pre-activation bias of density (exp activation), keeps early densities small."""
    learned_background: bool = False
    """Opaque photos: a small network of the view direction gives the colour a ray sees where it leaves
    the field (sky, far walls), trained with the field and used for evaluation; off: training composites
    over a random colour per ray (so the field itself must be opaque everywhere) and evaluation over
    scene.background. RGBA scenes always use random / scene backgrounds."""
    appearance_dim: int = 0
    """Per-training-image appearance code fed to the colour head (exposure / white-balance changes in
    captured scenes); 0: off. Held-out views are rendered with the mean code of the training images."""


@dataclass
class SamplerConfig:
    kind: str = "occupancy"
    """occupancy (grid-skipping ray marching) | uniform (stratified, the baseline)."""
    grid_resolution: int = 128
    """Cells per side of each occupancy-grid level."""
    render_steps: int = 512
    """Marching steps across the level-0 box diagonal (step = diagonal / render_steps)."""
    cone_angle: float = 0.0
    """Step grows as t * cone_angle beyond the base step (use ~1/256 for large captured scenes)."""
    occ_threshold: float = 0.01
    """A cell is occupied when its opacity density*step exceeds this (capped by the grid mean)."""
    ema_decay: float = 0.95
    update_every: int = 16
    warmup_steps: int = 256
    """Before this step every cell is re-evaluated at each update; after, a random quarter."""
    alpha_threshold: float = 0.0
    """Drop samples whose opacity is below this (0 keeps all occupied samples)."""
    early_stop_eps: float = 1e-4
    """Stop marching a ray once its transmittance falls below this."""
    n_samples: int = 128
    """Uniform sampler: stratified samples per ray."""
    backend: str = "torch"
    """Ray marching: torch (the reference) | nerfacc (CUDA; used only if it builds and passes a parity
    self-check, else the run falls back to torch and metrics.json says why)."""


@dataclass
class TrainConfig:
    steps: int = 20000
    """Optimisation steps (the schedule's length)."""
    time_budget: Optional[float] = None
    """Stop after this many seconds of training; the schedule follows time instead of steps."""
    lr: float = 5e-3
    lr_final: float = 5e-5
    warmup: int = 100
    """Linear learning-rate warm-up steps."""
    eps: float = 1e-15
    weight_decay: float = 1e-6
    distortion_loss: float = 0.0
    """Weight of mip-NeRF 360's distortion loss (weights along a ray pulled into one compact interval, in
    the sampler's normalised spacing): removes floaters and fog; 0: off."""
    near_grad: float = 0.0
    """Floaters No More (Philip & Deschaintre 2023): the gradients of samples closer to their camera than
    this many box half-sizes are scaled by (distance / that)². A volume right in front of a camera covers
    many of its pixels, so it gets their gradients many times over and is fitted as floaters; 0: off."""
    depth_loss: float = 0.0
    """Weight of the depth loss on SfM keypoints (losses.py): the rays through a COLMAP model's keypoints
    (COLMAP scenes, and `nerf-ff process` output) put their weight at their 3D point; 0: off (the
    automatic defaults set 0.01 when the scene has keypoints, autoconfig.py)."""
    depth_window: float = 0.05
    """Half-width of the depth loss's window, as a fraction of the keypoint's depth."""
    anneal_frequencies: float = 0.0
    """Coarse-to-fine: the Fourier features' frequencies fade in, lowest octave first, over this fraction
    of training (0: off; Fourier encodings only)."""
    pose_refine: bool = False
    """Learn a pose correction per training camera with the field (poses.py): for captured scenes, whose
    SfM poses are slightly off; held-out views follow the training cameras' common motion."""
    pose_start: float = 0.3
    """Fraction of training before the pose corrections start to learn: while the field is still coarse
    (and the frequencies fade in) its errors pushed the cameras 1-3 degrees astray (BENCHMARKS.md)."""
    pose_lr: float = 3e-4
    """Peak learning rate of the pose corrections (radians; translation in scene-box units), decayed with
    train.lr (3e-4: best of 1e-4 / 3e-4 / 1e-3 on a 1-degree perturbation, BENCHMARKS.md)."""
    target_samples: int = 0
    """Samples per step the dynamic ray batch aims at; 0: by device (2^18 cuda, 2^15 cpu)."""
    init_rays: int = 1024
    max_rays: int = 65536
    seed: int = 0
    device: str = "auto"
    """auto | cpu | cuda."""
    amp: str = "auto"
    """Mixed precision: auto (bf16 on cuda, off on cpu) | bf16 | fp16 | off."""
    compile: bool = False
    """torch.compile the field's position encoding + trunk MLP for training (fields/radiance.py); any
    device with a compiler (Triton on CUDA, a C++ compiler on the CPU)."""
    log_every: int = 100
    """Write a row of RUN_DIR/log.csv (loss, PSNR, lr, rays, samples, occupancy, |B|) every N steps."""
    log: str = "csv"
    """csv (RUN_DIR/log.csv only) | tensorboard (also RUN_DIR/tensorboard; needs the tensorboard package)."""
    preview_every: int = 0
    """Render a held-out view (longest side 128 px) every N steps: its PSNR in log.csv, the image in
    RUN_DIR/preview/ and TensorBoard; 0: off."""
    checkpoint_every: int = 1000
    """Write checkpoint.pt atomically every N steps (and at the end, on Ctrl-C and SIGTERM)."""
    nan_policy: str = "skip"
    """On a non-finite loss or gradient: skip (skip the step; stop after 20 in a row) | stop."""


@dataclass
class EvalConfig:
    lpips_net: str = "alex"
    """alex | vgg | none."""
    chunk: int = 8192
    """Rays rendered per chunk (bounds memory independent of image size)."""
    cost_frame: int = 400
    """Time one test view rendered with this longest side (400: 400x400 for square scenes) for the
    cost figures in metrics.json; 0: skip."""
    max_views: int = 0
    """Evaluate at most this many test views (evenly spaced); 0: all."""
    save_images: bool = True
    align_steps: int = 0
    """Test-time camera alignment (align.py): fit each evaluated view's pose to the trained field with this
    many steps, then score it again (metrics.json `aligned`, beside the given-pose figures); 0: off."""
    align_rays: int = 1024
    """Random pixels per alignment step."""


@dataclass
class RunConfig:
    scene: SceneConfig = field(default_factory=SceneConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "config") -> "RunConfig":
        return apply_overrides(cls(), d, where)

    def validate(self) -> "RunConfig":
        """Reject values that would train nonsense; messages say which key and what is allowed."""
        m, s, t, sc, e = self.model, self.sampler, self.train, self.scene, self.eval
        _check(m.encoding in ENCODINGS, f"model.encoding={m.encoding!r} is unknown; use one of {', '.join(ENCODINGS)}")
        _check(m.dir_encoding in DIR_ENCODINGS, f"model.dir_encoding={m.dir_encoding!r} is unknown; use one of {', '.join(DIR_ENCODINGS)}")
        _check(_finite(m.sigma) and m.sigma > 0, f"model.sigma={m.sigma} must be a positive number (cycles per scene box, e.g. 8)")
        for key in ("n_features", "posenc_levels", "width", "depth", "color_width", "color_depth", "dir_degree"):
            _check(getattr(m, key) >= 1, f"model.{key}={getattr(m, key)} must be at least 1")
        _check(m.appearance_dim >= 0, f"model.appearance_dim={m.appearance_dim} must be 0 (off) or positive")
        _check(s.kind in ("occupancy", "uniform"), f"sampler.kind={s.kind!r} is unknown; use occupancy or uniform")
        _check(s.backend in ("torch", "nerfacc"), f"sampler.backend={s.backend!r} is unknown; use torch or nerfacc")
        _check(s.grid_resolution >= 8, f"sampler.grid_resolution={s.grid_resolution} must be at least 8")
        _check(s.render_steps >= 8 and s.n_samples >= 2, "sampler.render_steps must be >= 8 and sampler.n_samples >= 2")
        _check(0 <= s.early_stop_eps < 1 and s.cone_angle >= 0, "sampler.early_stop_eps must be in [0, 1) and cone_angle >= 0")
        _check(t.steps >= 1, f"train.steps={t.steps} must be a positive number of steps")
        _check(0 <= t.seed < 2**63 and 0 <= m.encoding_seed < 2**63,
               f"train.seed={t.seed} / model.encoding_seed={m.encoding_seed} must be in 0 .. 2^63 - 1 (torch's generator range)")
        _check(t.time_budget is None or (_finite(t.time_budget) and t.time_budget > 0),
               f"train.time_budget={t.time_budget} must be a positive number of seconds")
        _check(_finite(t.lr) and t.lr > 0 and _finite(t.lr_final) and t.lr_final > 0, "train.lr and train.lr_final must be positive")
        _check(t.device in ("auto", "cpu", "cuda") or t.device.startswith("cuda:"), f"train.device={t.device!r} is unknown; use auto, cpu or cuda")
        _check(t.amp in ("auto", "bf16", "fp16", "off"), f"train.amp={t.amp!r} is unknown; use auto, bf16, fp16 or off")
        _check(t.distortion_loss >= 0 and 0 <= t.anneal_frequencies <= 1,
               "train.distortion_loss must be >= 0 and train.anneal_frequencies in [0, 1]")
        _check(_finite(t.near_grad) and t.near_grad >= 0, f"train.near_grad={t.near_grad} must be >= 0 (0: off)")
        _check(_finite(t.depth_loss) and t.depth_loss >= 0 and _finite(t.depth_window) and 0 < t.depth_window < 1,
               f"train.depth_loss={t.depth_loss} must be >= 0 and train.depth_window={t.depth_window} in (0, 1)")
        _check(_finite(t.pose_lr) and t.pose_lr > 0, f"train.pose_lr={t.pose_lr} must be a positive learning rate")
        _check(0 <= t.pose_start < 1, f"train.pose_start={t.pose_start} must be a fraction of training in [0, 1)")
        _check(t.nan_policy in ("skip", "stop"), f"train.nan_policy={t.nan_policy!r} is unknown; use skip or stop")
        _check(t.init_rays >= 1 and t.max_rays >= t.init_rays, "train.init_rays must be >= 1 and <= train.max_rays")
        _check(t.checkpoint_every >= 1 and t.log_every >= 1, "train.checkpoint_every and train.log_every must be >= 1")
        _check(t.log in ("csv", "tensorboard") and t.preview_every >= 0,
               f"train.log={t.log!r} must be csv or tensorboard, and train.preview_every >= 0")
        _check(e.cost_frame >= 0, "eval.cost_frame must be >= 0 (0: no render timing)")
        _check(sc.downscale >= 1, f"scene.downscale={sc.downscale} must be an integer >= 1")
        _check(sc.kind in ("auto", "object", "unbounded"), f"scene.kind={sc.kind!r} is unknown; use auto, object or unbounded")
        _check(sc.test_every >= 2, f"scene.test_every={sc.test_every} must be >= 2")
        _check(len(sc.background) == 3 and all(0 <= c <= 1 for c in sc.background),
               f"scene.background={sc.background} must be three numbers in [0, 1]")
        _check(sc.aabb is None or (len(sc.aabb) == 6 and all(sc.aabb[i] < sc.aabb[i + 3] for i in range(3))),
               f"scene.aabb={sc.aabb} must be [xmin, ymin, zmin, xmax, ymax, zmax] with min < max")
        _check(e.lpips_net in ("alex", "vgg", "none"), f"eval.lpips_net={e.lpips_net!r} is unknown; use alex, vgg or none")
        _check(e.chunk >= 1, "eval.chunk must be >= 1")
        _check(e.max_views >= 0, f"eval.max_views={e.max_views} must be >= 0 (0: every view)")
        _check(e.align_steps >= 0 and e.align_rays >= 1,
               f"eval.align_steps={e.align_steps} must be >= 0 (0: off, e.g. 200) and eval.align_rays >= 1")
        return self


def _finite(x) -> bool:
    try:
        return float(x) == float(x) and abs(float(x)) != float("inf")
    except (TypeError, ValueError):
        return False


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(f"invalid config: {message}")


def _coerce(value: Any, current: Any, default_type: Any, key: str) -> Any:
    """Convert a YAML / command-line value to the type of the field it replaces. None (or the text
    null / none from --set) unsets an Optional field."""
    optional = "Optional" in str(default_type) or "None" in str(default_type)
    if isinstance(value, str) and value.strip().lower() in ("null", "none", "~") and optional:
        value = None
    if value is None:
        if not optional:
            raise UserError(f"invalid config: {key} cannot be null (it is not optional); give a value")
        return None
    target = type(current) if current is not None else None
    if target is None:
        # Optional field currently None: infer from the annotation text.
        ann = str(default_type)
        target = float if "float" in ann else int if "int" in ann else str if "str" in ann else list if "list" in ann else None
    if target is None or isinstance(value, target):
        if target is float and isinstance(value, bool):
            raise UserError(f"invalid config: {key}={value!r} must be a number")
        return value
    try:
        if target is bool:
            if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if target is float and isinstance(value, (int, str)) and not isinstance(value, bool):
            return float(value)
        if target is int and isinstance(value, str):
            return int(value)
        if target is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if target is list and isinstance(value, str):
            return [float(v) for v in value.split(",")]
    except ValueError:
        pass
    example = {"list": "numbers separated by commas, e.g. --set KEY=1,1,1 (YAML: [1, 1, 1])", "bool": "true or false",
               "int": "a whole number", "float": "a number"}.get(target.__name__, f"of type {target.__name__}")
    raise UserError(f"invalid config: {key}={value!r} should be {example.replace('KEY', key)}")


def apply_overrides(cfg: RunConfig, d: Optional[dict], where: str) -> RunConfig:
    """Return a copy of `cfg` with the sections in `d` applied; unknown keys are errors."""
    cfg = dataclasses.replace(cfg, **{f.name: dataclasses.replace(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)})
    if not d:
        return cfg
    if not isinstance(d, dict):
        raise UserError(f"{where}: expected a mapping of sections (scene, model, sampler, train, eval)")
    sections = {f.name: f for f in dataclasses.fields(cfg)}
    for sec_name, values in d.items():
        if sec_name not in sections:
            raise UserError(f"{where}: unknown section {sec_name!r}; use one of {', '.join(sections)}")
        if values is None:
            continue
        if not isinstance(values, dict):
            raise UserError(f"{where}: section {sec_name!r} must be a mapping of key: value")
        sec = getattr(cfg, sec_name)
        fields = {f.name: f for f in dataclasses.fields(sec)}
        for key, value in values.items():
            if key not in fields:
                raise UserError(f"{where}: unknown key {sec_name}.{key}; known keys: {', '.join(fields)}")
            setattr(sec, key, _coerce(value, getattr(sec, key), fields[key].type, f"{sec_name}.{key}"))
    return cfg


def load_yaml(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist; check the path")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} is not valid YAML ({first}); fix the file") from None
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror}); check its permissions") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a mapping of sections (scene, model, ...), not {type(data).__name__}")
    return data


def dump_yaml(cfg: RunConfig, path: str | os.PathLike) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def project_root() -> Path:
    """The source checkout (where scenes/ and configs/ live)."""
    return Path(__file__).resolve().parent.parent


def datasets_root() -> Path:
    env = os.environ.get("NERF_FF_DATASETS")
    return Path(env) if env else project_root().parent / "shared" / "datasets"


def find_named(kind: str, name: str) -> Optional[Path]:
    """Find `<kind>/<name>.yaml` (kind: scenes | configs) in the working directory or the project."""
    candidates = [Path(name)] if name.endswith((".yaml", ".yml")) else []
    for base in (Path.cwd(), project_root()):
        candidates.append(base / kind / f"{name}.yaml")
    for c in candidates:
        if c.is_file():
            return c
    return None


def available(kind: str) -> list[str]:
    """Names of the shipped scenes or training presets (sweep files, configs/sweep-*.yaml, are not presets)."""
    return sorted(p.stem for p in (project_root() / kind).glob("*.yaml") if not p.stem.startswith("sweep-"))


def expand_path(raw: str, yaml_dir: Optional[Path]) -> str:
    """Expand `{datasets}` and make a relative path absolute against the YAML file's folder."""
    s = raw.replace("{datasets}", str(datasets_root()))
    p = Path(os.path.expanduser(s))
    if not p.is_absolute() and yaml_dir is not None:
        p = yaml_dir / p
    return str(p.resolve()) if p.exists() else str(p)


# --------------------------------------------------------------------------- assembling a run config


def parse_set(items: Optional[list[str]]) -> dict:
    """`--set model.width=128` → {"model": {"width": "128"}} (typed by the config's coercion)."""
    out: dict = {}
    for item in items or []:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise UserError(f"--set {item!r} must look like section.key=value, e.g. --set model.width=128")
        key, value = item.split("=", 1)
        sec, name = key.split(".", 1)
        out.setdefault(sec, {})[name] = value
    return out


def resolve_scene(scene_arg: str, data_path: Optional[str] = None) -> tuple[dict, Optional[Path]]:
    """SCENE (builtin | scenes/NAME.yaml | NAME | dataset folder) → (config layer, yaml folder)."""
    p = Path(scene_arg)
    if data_path and (scene_arg == "builtin" or p.is_dir()):  # never silently ignored
        raise UserError(f"--data replaces the dataset folder of a scenes/ YAML (lego, fox, ...); scene {scene_arg!r} "
                        f"{'is generated and has none' if scene_arg == 'builtin' else 'is a folder itself'}: drop --data")
    if scene_arg == "builtin":
        return {"scene": {"name": "builtin", "format": "builtin"}}, None
    if p.is_dir():
        return {"scene": {"name": p.resolve().name, "path": str(p.resolve())}}, None
    if p.is_file() and p.suffix.lower() not in (".yaml", ".yml"):
        raise UserError(f"scene {scene_arg!r} is a file, not a dataset folder or a scene YAML; for a video or photos run "
                        f"`nerf-ff process {scene_arg} --out FOLDER` first, then train on FOLDER")
    yaml_path = find_named("scenes", scene_arg)
    if yaml_path is None:
        raise UserError(f"scene {scene_arg!r} is neither a dataset folder, a YAML file nor a known scene "
                        f"({', '.join(['builtin'] + available('scenes'))})")
    layer = load_yaml(yaml_path)
    layer.setdefault("scene", {})
    if data_path:
        layer["scene"]["path"] = str(Path(data_path).resolve())
    return layer, yaml_path.parent


def config_layers(scene_arg: str, data_path: Optional[str] = None, presets: Sequence[str] = (),
                  flags: Optional[dict] = None, set_items: Optional[list[str]] = None
                  ) -> tuple[list[tuple[str, dict]], Optional[Path]]:
    """The layers of a run, lowest first: scene YAML, presets (configs/ names or paths), typed flags
    ({"model": {...}, "train": {...}}), --set items; and the scene YAML's folder (relative paths)."""
    scene_layer, yaml_dir = resolve_scene(scene_arg, data_path)
    layers: list[tuple[str, dict]] = [(f"scene {scene_arg}", scene_layer)]
    for preset in presets:
        path = find_named("configs", preset)
        if path is None:
            raise UserError(f"preset {preset!r} not found; known presets: {', '.join(available('configs'))}")
        layers.append((str(path), load_yaml(path)))
    layers += [("command line", flags or {}), ("--set", parse_set(set_items))]
    return layers, yaml_dir


def compose(layers: list[tuple[str, dict]], yaml_dir: Optional[Path] = None) -> RunConfig:
    """Defaults with the layers applied in order (unvalidated); the scene path made absolute."""
    cfg = RunConfig()
    for where, layer in layers:
        cfg = apply_overrides(cfg, layer, where=where)
        if where.startswith("scene ") and cfg.scene.path:
            cfg.scene.path = expand_path(cfg.scene.path, yaml_dir)
    return cfg
