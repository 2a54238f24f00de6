"""Fit an image: the Fourier-features paper's 2D experiment on the project's own encodings and MLP.

An MLP maps pixel coordinates to colours, rgb = sigmoid(MLP(gamma(x01))), with gamma one of the
3D field's embeddings at in_dim=2 (`FourierFeatures` with basic_B / posenc_B / gaussian_B, or
`Identity` for none) and `fields.mlp.MLP` as the network.

    image ──► centre crop, resize to S x S (area) ──► target [S, S, 3]
    pixels    x01 = ((col + 0.5) / S, (row + 0.5) / S) in [0,1)^2, pixel centres; sigma is in
              cycles per image (DESIGN.md's cycles per box with the image as the box)
    split     train = pixels with even row AND even column (the (S/2)^2 grid, every other pixel)
              test  = all S^2 pixels, as the paper: it measures interpolation between train pixels
              held-out = test minus train (the 3/4 never seen in training), reported as well
    fit       one mapping at a time, Adam, full batch (every train pixel each step), MSE loss;
              every mapping gets the same MLP shape and initial-weight seed, and all Gaussian
              mappings share one unit-normal draw B0 (seeded), B = sigma * B0
    outputs   curves.png, grid.png, progress.mp4, results.json, results.csv

posenc uses NeRF's powers of two, rows 2^l e_k for l = 0..L-1 (`posenc_B`; the paper's 2D table
spaces its axis-aligned frequencies log-linearly instead), with
L = log2(S) - 2 by default: the highest frequency 2^(L-1) is S/8 cycles per image, half the
Nyquist frequency S/4 of the train grid. Higher levels are degenerate on the train grid (at S/2
the sine is +1 on every train pixel and -1 on odd columns, at S/4 sine equals cosine there), so
the network cannot learn what they do between train pixels: on the fox at S=128, 400 steps, test
PSNR was 26.9 dB with top frequency S/8, 22.4 with S/4 and 13.1 with S/2. `posenc_levels` in a
preset overrides the default.

Presets are data: configs/fit-image/<name>.yaml hold a `fit_image:` mapping of
`FitImageConfig` fields; command-line flags override them.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import Tensor, nn

from .config import available, find_named, load_yaml
from .encodings import Encoding, FourierFeatures, Identity, basic_B, gaussian_B, posenc_B
from .errors import UserError
from .files import write_json
from .fields.mlp import MLP
from .metrics import psnr

KINDS = ("none", "basic", "posenc", "gaussian")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

# ------------------------------------------------------------------------------------------ config


MAX_SIZE = 4096  # 16 M target pixels; the field is evaluated on all of them at every evaluation


@dataclass
class FitImageConfig:
    size: int = 128
    """Side S of the square target image (even); the train grid is (S/2)^2 pixels."""
    steps: int = 300
    """Adam steps per mapping, each on every train pixel."""
    features: int = 128
    """Gaussian frequencies m (2m inputs to the MLP)."""
    width: int = 128
    depth: int = 3
    """Hidden width and number of hidden ReLU layers of the MLP (the same for every mapping)."""
    lr: float = 1e-3
    lr_by_mapping: dict = field(default_factory=dict)
    """Learning rate per mapping kind where it differs from `lr`, e.g. {none: 0.01}."""
    encodings: str = "none,basic,posenc,gaussian:1,10,100"
    """Mappings to compare (the --encodings syntax)."""
    posenc_levels: Optional[int] = None
    """posenc levels L; None: log2(size) - 2, top frequency S/8 cycles per image."""
    include_input: bool = False
    """Append x01 to the Fourier features (the paper does not)."""
    eval_every: int = 25
    """Steps between evaluations (curve points and video frames)."""
    amp: str = "auto"
    """auto (bf16 on CUDA, off on CPU) | bf16 | fp16 | off; sin/cos stay in float32."""
    video_panel: int = 256
    """Side of each panel in progress.mp4 (nearest-neighbour up, area down)."""
    video_fps: int = 10

    def validate(self) -> "FitImageConfig":
        _check(8 <= self.size <= MAX_SIZE and self.size % 2 == 0,
               f"size={self.size} must be an even number from 8 to {MAX_SIZE} (pixels per side; the paper uses 512)")
        for key in ("steps", "features", "width", "depth", "eval_every", "video_panel", "video_fps"):
            _check(getattr(self, key) >= 1, f"{key}={getattr(self, key)} must be at least 1")
        _check(_positive(self.lr), f"lr={self.lr} must be a positive number")
        for kind, lr in self.lr_by_mapping.items():
            _check(kind in KINDS, f"lr_by_mapping has unknown mapping {kind!r}; use {', '.join(KINDS)}")
            _check(_positive(lr), f"lr_by_mapping.{kind}={lr} must be a positive number")
        _check(self.posenc_levels is None or self.posenc_levels >= 1, "posenc_levels must be null or >= 1")
        _check(self.amp in ("auto", "bf16", "fp16", "off"), f"amp={self.amp!r} is unknown; use auto, bf16, fp16 or off")
        parse_encodings(self.encodings)
        return self


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(f"invalid fit-image setting: {message}")


def _typed(key: str, value, default, where: str):
    """A YAML value converted to the type of the field's default; a wrong type is a UserError."""
    if key == "posenc_levels" and value is None:
        return None
    want = type(default) if default is not None else int
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        raise UserError(f"{where}: fit_image.{key}={value!r} should be of type {want.__name__}")
    return value


def load_preset(name: str) -> FitImageConfig:
    """`quick` → configs/fit-image/quick.yaml (cwd or project), or a path to such a YAML file."""
    path = find_named("configs/fit-image", name)
    if path is None:
        known = available("configs/fit-image")
        raise UserError(f"fit-image preset {name!r} not found; use one of {', '.join(known)} or a YAML path")
    data = load_yaml(path)
    section = data.get("fit_image")
    if set(data) != {"fit_image"} or not isinstance(section, dict):
        raise UserError(f"{path} must hold one mapping `fit_image:` of fit-image settings")
    cfg = FitImageConfig()
    fields = {f.name for f in dataclasses.fields(cfg)}
    for key, value in section.items():
        if key not in fields:
            raise UserError(f"{path}: unknown key fit_image.{key}; known keys: {', '.join(sorted(fields))}")
        setattr(cfg, key, _typed(key, value, getattr(FitImageConfig(), key), str(path)))
    return cfg.validate()


# ---------------------------------------------------------------------------------------- mappings


@dataclass(frozen=True)
class Mapping:
    kind: str  # none | basic | posenc | gaussian
    sigma: Optional[float] = None  # gaussian only, cycles per image

    @property
    def name(self) -> str:
        return self.kind if self.sigma is None else f"{self.kind}-{self.sigma:g}"

    @property
    def label(self) -> str:
        return self.kind if self.sigma is None else f"{self.kind} sigma={self.sigma:g}"


def parse_encodings(spec: str) -> list[Mapping]:
    """'none,basic,posenc,gaussian:1,10,100' → mappings; numbers after gaussian:S are more sigmas."""
    hint = "use e.g. none,basic,posenc,gaussian:1,10,100"
    out: list[Mapping] = []
    in_gaussian = False
    for token in (t.strip() for t in spec.split(",")):
        if token.startswith("gaussian:"):
            in_gaussian, token = True, token[len("gaussian:"):]
            if not token:
                raise UserError(f"--encodings: 'gaussian:' needs a scale after the colon; {hint}")
        elif token in ("none", "basic", "posenc"):
            in_gaussian = False
            out.append(Mapping(token))
            continue
        elif token == "gaussian":
            raise UserError(f"--encodings: gaussian needs its scales, as gaussian:SIGMA[,SIGMA...]; {hint}")
        try:
            sigma = float(token)
        except ValueError:
            raise UserError(f"--encodings: unknown mapping {token!r}; use none, basic, posenc, gaussian:SIGMAS "
                            f"({hint})") from None
        if not in_gaussian:
            raise UserError(f"--encodings: scale {token!r} must follow gaussian:, as in gaussian:1,10,100")
        if not (math.isfinite(sigma) and sigma > 0):
            raise UserError(f"--encodings: gaussian scale {token!r} must be a positive number (cycles per image)")
        out.append(Mapping("gaussian", sigma))
    if len(set(out)) != len(out):
        raise UserError(f"--encodings {spec!r} lists a mapping twice; list each once")
    return out


def default_posenc_levels(size: int) -> int:
    """L with top frequency 2^(L-1) ≈ S/8 cycles per image (exactly S/8 for powers of two)."""
    return max(1, round(math.log2(size)) - 2)


def make_encoding(mapping: Mapping, cfg: FitImageConfig, seed: int) -> Encoding:
    """The 3D field's embedding at in_dim=2; every Gaussian sigma scales the same seeded draw."""
    if mapping.kind == "none":
        return Identity(2)
    if mapping.kind == "basic":
        B = basic_B(2)  # [2, 2]
    elif mapping.kind == "posenc":
        B = posenc_B(cfg.posenc_levels or default_posenc_levels(cfg.size), 2)  # [2L, 2]
    else:
        B = gaussian_B(cfg.features, mapping.sigma, seed, 2)  # [m, 2]
    return FourierFeatures(B, include_input=cfg.include_input)


class ImageField(nn.Module):
    """rgb = sigmoid(MLP(gamma(x01))): [N, 2] pixel coordinates → [N, 3] colours in (0, 1)."""

    def __init__(self, encoding: Encoding, width: int, depth: int):
        super().__init__()
        self.encoding = encoding
        self.mlp = MLP(encoding.out_dim, width, depth, 3)

    def forward(self, x01: Tensor) -> Tensor:
        return torch.sigmoid(self.mlp(self.encoding(x01)).float())


# ------------------------------------------------------------------------------------ image, split


def load_target_image(path: str | Path, size: int) -> np.ndarray:
    """Image file → float32 [size, size, 3] in [0,1]: centre square crop, area resize (cv2)."""
    import cv2  # noqa: PLC0415

    from .metrics import read_image_rgb  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise UserError(f"image {path} does not exist; check the path")
    try:
        img = read_image_rgb(path)  # [H, W, 3], alpha over white
    except UserError as e:
        first = str(e).splitlines()[0] if str(e) else "unreadable"
        raise UserError(f"cannot read {path} as an image ({first[:200]}); use a PNG or JPEG file") from None
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = img[top:top + side, left:left + side]
    if side < size:
        print(f"note: {path.name} is {side} px after cropping, upsampled to {size}", file=sys.stderr)
    out = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def pixel_coords(size: int) -> Tensor:
    """Pixel centres [size, size, 2] as (x, y) = ((col + 0.5) / S, (row + 0.5) / S)."""
    c = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    y, x = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([x, y], dim=-1)


def train_mask(size: int) -> Tensor:
    """[size, size] bool: True on even rows and even columns (the train grid)."""
    even = torch.arange(size) % 2 == 0
    return even[:, None] & even[None, :]


# ----------------------------------------------------------------------------------------- fitting


@dataclass
class FitResult:
    mapping: Mapping
    lr: float
    steps: list[int]
    train_psnr: list[float]
    test_psnr: list[float]
    heldout_psnr: list[float]
    seconds: float
    final: np.ndarray  # [S, S, 3] float32, the last prediction

    def summary(self) -> dict:
        return {"mapping": self.mapping.name, "label": self.mapping.label, "kind": self.mapping.kind,
                "sigma": self.mapping.sigma, "lr": self.lr, "steps": self.steps[-1],
                "train_psnr": self.train_psnr[-1], "test_psnr": self.test_psnr[-1],
                "heldout_psnr": self.heldout_psnr[-1], "seconds": self.seconds}


def fit_mapping(mapping: Mapping, target: np.ndarray, cfg: FitImageConfig, device: torch.device, amp: str,
                seed: int, on_eval: Optional[Callable[[int, np.ndarray], None]] = None) -> FitResult:
    """Train one mapping on the even grid of `target` [S, S, 3]; evaluate every `eval_every` steps.

    on_eval(step, prediction [S, S, 3] float32) is called at step 0, every eval_every, and the end.
    """
    S = target.shape[0]
    coords = pixel_coords(S).reshape(-1, 2).to(device)  # [S*S, 2]
    gt = torch.from_numpy(target).reshape(-1, 3).to(device)  # [S*S, 3]
    is_train = train_mask(S).reshape(-1).to(device)  # [S*S]
    x_train, y_train = coords[is_train], gt[is_train]  # [(S/2)^2, 2], [(S/2)^2, 3]
    with torch.random.fork_rng(devices=[]):  # seeded initial weights, the global CPU RNG left as it was
        torch.default_generator.manual_seed(seed)
        model = ImageField(make_encoding(mapping, cfg, seed), cfg.width, cfg.depth).to(device)
    lr = float(cfg.lr_by_mapping.get(mapping.kind, cfg.lr))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    autocast = dict(device_type=device.type, dtype=AMP_DTYPES.get(amp, torch.float32), enabled=amp != "off")
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
    curves: dict[str, list] = {"steps": [], "train": [], "test": [], "heldout": []}
    final = None

    def evaluate(step: int) -> None:
        nonlocal final
        with torch.no_grad(), torch.autocast(**autocast):
            pred = model(coords)  # [S*S, 3]
        curves["steps"].append(step)
        curves["train"].append(psnr(pred[is_train][:, None], y_train[:, None]))
        curves["test"].append(psnr(pred.reshape(S, S, 3), gt.reshape(S, S, 3)))
        curves["heldout"].append(psnr(pred[~is_train][:, None], gt[~is_train][:, None]))
        final = pred.reshape(S, S, 3).cpu().numpy()
        if on_eval is not None:
            on_eval(step, final)

    t0 = time.perf_counter()
    evaluate(0)
    for step in range(1, cfg.steps + 1):
        with torch.autocast(**autocast):
            pred = model(x_train)  # [(S/2)^2, 3] float32
        loss = torch.mean((pred - y_train) ** 2)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            evaluate(step)  # reads back to the CPU, so the timing below includes the GPU work
    seconds = time.perf_counter() - t0
    return FitResult(mapping, lr, curves["steps"], curves["train"], curves["test"], curves["heldout"],
                     seconds, final)


# ----------------------------------------------------------------------------------------- outputs


def _panel(img: np.ndarray, side: int) -> np.ndarray:
    """float [S, S, 3] → uint8 [side, side, 3] (nearest up, area down)."""
    import cv2  # noqa: PLC0415

    u8 = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    interp = cv2.INTER_NEAREST if side >= img.shape[0] else cv2.INTER_AREA
    return cv2.resize(u8, (side, side), interpolation=interp)


def _labelled(panel: np.ndarray, text: str, strip: int = 32) -> np.ndarray:
    """A black strip with `text` (cv2.putText) above a uint8 panel [side, side, 3]."""
    import cv2  # noqa: PLC0415

    bar = np.zeros((strip, panel.shape[1], 3), np.uint8)
    cv2.putText(bar, text, (6, strip - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([bar, panel], axis=0)


def write_video(path: Path, target: np.ndarray, results: list[FitResult], snapshots: list[list[np.ndarray]],
                cfg: FitImageConfig) -> None:
    """progress.mp4: ground truth then each mapping's prediction, one frame per evaluation."""
    import imageio.v2 as imageio  # noqa: PLC0415

    gt = _panel(target, cfg.video_panel)
    steps = results[0].steps
    with imageio.get_writer(path, fps=cfg.video_fps, codec="libx264", quality=7, macro_block_size=16) as writer:
        for k, step in enumerate(steps):
            row = [_labelled(gt, f"ground truth  step {step}")]
            row += [_labelled(snaps[k], r.mapping.label) for r, snaps in zip(results, snapshots)]
            frame = np.concatenate(row, axis=1)
            for _ in range(cfg.video_fps if k == len(steps) - 1 else 1):  # hold the last frame ~1 s
                writer.append_data(frame)


def write_curves(path: Path, results: list[FitResult], title: str) -> None:
    """curves.png: train (left) and test (right) PSNR against step, one line per mapping."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    ax_train, ax_test = fig.subplots(1, 2, sharex=True)
    for r in results:
        ax_train.plot(r.steps, r.train_psnr, label=r.mapping.label)
        ax_test.plot(r.steps, r.test_psnr, label=r.mapping.label)
    ax_train.set_title("train PSNR (even-grid pixels)")
    ax_test.set_title("test PSNR (all pixels)")
    for ax in (ax_train, ax_test):
        ax.set_xlabel("step")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
    ax_test.legend(loc="lower right", fontsize="small")
    fig.suptitle(title)
    fig.savefig(path, dpi=100)


def write_grid(path: Path, target: np.ndarray, results: list[FitResult], title: str) -> None:
    """grid.png: ground truth and every mapping's final prediction, with its PSNRs."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    n = len(results) + 1
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.4 * cols, 3.7 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    axes[0].imshow(target, interpolation="nearest")
    axes[0].set_title("ground truth", fontsize="medium")
    for ax, r in zip(axes[1:], results):
        ax.imshow(np.clip(r.final, 0, 1), interpolation="nearest")
        ax.set_title(f"{r.mapping.label}\ntest {r.test_psnr[-1]:.2f} dB, held-out {r.heldout_psnr[-1]:.2f}",
                     fontsize="medium")
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title)
    fig.savefig(path, dpi=100)


CSV_COLUMNS = ["mapping", "sigma", "lr", "steps", "train_psnr", "test_psnr", "heldout_psnr", "seconds",
               "device", "preset", "image", "size", "seed"]


def write_results(out: Path, report: dict) -> None:
    """results.json (everything, curves included) and results.csv (one row per mapping)."""
    write_json(out / "results.json", report)
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for row in report["results"]:
            w.writerow({k: row.get(k, report.get(k)) for k in CSV_COLUMNS})


# ------------------------------------------------------------------------------------------ driver


def run_fit_image(image: str | Path, cfg: FitImageConfig, out: str | Path, device: str = "auto", seed: int = 0,
                  preset: str = "quick", log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict:
    """Fit every mapping of `cfg.encodings` to `image`, write the outputs to `out`, return the report."""
    from .backends import resolve_amp, resolve_device  # noqa: PLC0415

    t0 = time.perf_counter()
    cfg = dataclasses.replace(cfg).validate()
    mappings = parse_encodings(cfg.encodings)
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise UserError(f"--device {device!r} is unknown; use auto, cpu or cuda")
    dev = resolve_device(device)
    amp = resolve_amp(cfg.amp, dev)  # off on CPU
    target = load_target_image(image, cfg.size)  # [S, S, 3]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log(f"fit-image {Path(image).name} at {cfg.size}x{cfg.size} ({(cfg.size // 2) ** 2} train pixels), "
        f"{cfg.depth}x{cfg.width} MLP, {cfg.steps} steps, {dev} (amp {amp}) → {out}")
    results, snapshots = [], []
    for m in mappings:
        snaps: list[np.ndarray] = []
        r = fit_mapping(m, target, cfg, dev, amp, seed, on_eval=lambda _s, img: snaps.append(_panel(img, cfg.video_panel)))
        results.append(r)
        snapshots.append(snaps)
        log(f"  {m.label:<22} train {r.train_psnr[-1]:6.2f}  test {r.test_psnr[-1]:6.2f}  "
            f"held-out {r.heldout_psnr[-1]:6.2f} dB  ({r.seconds:.1f} s)")
    title = f"{Path(image).name}, {cfg.size}x{cfg.size}, {cfg.depth}x{cfg.width} MLP, {cfg.steps} steps"
    write_curves(out / "curves.png", results, title)
    write_grid(out / "grid.png", target, results, title)
    write_video(out / "progress.mp4", target, results, snapshots, cfg)
    report = {
        "image": str(Path(image).resolve()), "size": cfg.size, "preset": preset, "steps": cfg.steps, "seed": seed,
        "device": str(dev), "amp": amp, "sigmas": [m.sigma for m in mappings if m.sigma is not None],
        "sigma_units": "cycles per image (x01 = pixel centres in [0,1)^2)",
        "features": cfg.features, "mlp": {"width": cfg.width, "depth": cfg.depth, "activation": "relu",
                                          "output": "sigmoid"},
        "posenc_levels": cfg.posenc_levels or default_posenc_levels(cfg.size), "include_input": cfg.include_input,
        "split": {"train": "even rows and even columns", "train_pixels": (cfg.size // 2) ** 2,
                  "test": "all pixels", "test_pixels": cfg.size ** 2,
                  "heldout": "all pixels not in train", "heldout_pixels": cfg.size ** 2 - (cfg.size // 2) ** 2},
        "config": dataclasses.asdict(cfg),
        "results": [r.summary() for r in results],
        "curves": {r.mapping.name: {"steps": r.steps, "train_psnr": r.train_psnr, "test_psnr": r.test_psnr,
                                    "heldout_psnr": r.heldout_psnr} for r in results},
    }
    report["total_seconds"] = time.perf_counter() - t0
    write_results(out, report)
    return report
