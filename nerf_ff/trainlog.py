"""Training you can watch: per-step scalars to RUN_DIR/log.csv (always) and TensorBoard (optional).

Every `train.log_every` steps one row: step, elapsed training seconds, loss (EMA of the MSE) and its
PSNR, learning rate, rays and samples of the step, occupied fraction of the grid, and for a learned
B the mean and largest row norm |b_i| (its frequencies in cycles per box), with train.pose_refine the
mean pose correction so far (`pose_rot_deg`, `pose_move_pct` of the scene box). Every `train.preview_every`
steps (0: off) one held-out view is rendered at a reduced size: its PSNR goes into the row
(`preview_psnr`) and the image to RUN_DIR/preview/step_NNNNNNN.png and TensorBoard.

log.csv is appended to, so a resumed run continues its own log; rows after the resume step are
dropped first (a killed run may have logged past its last checkpoint). With `train.log: tensorboard`
(`nerf-ff train --log tensorboard`) the same scalars go to RUN_DIR/tensorboard (`tensorboard
--logdir RUN_DIR`); TensorBoard is an optional package and a missing one is a one-line error.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import UserError

COLUMNS = ("step", "elapsed", "loss", "psnr", "lr", "n_rays", "n_samples", "occupied", "b_norm_mean", "b_norm_max",
           "preview_psnr", "depth_loss", "pose_rot_deg", "pose_move_pct")


def tensorboard_writer():
    """TensorBoard's SummaryWriter class, or a one-line error naming the package (`nerf-ff train` asks
    before it makes the run folder)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415
    except ImportError:
        raise UserError("--log tensorboard needs the tensorboard package; install it with "
                        "`pip install tensorboard` (or `pip install -e .[tensorboard]`)") from None
    return SummaryWriter


class TrainLog:
    def __init__(self, run_dir: Path, backend: str = "csv", resume_step: int = 0):
        self.path = Path(run_dir) / "log.csv"
        self.run_dir = Path(run_dir)
        self._truncate_after(resume_step)
        new = not self.path.is_file()
        self._file = open(self.path, "a", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            self._csv.writeheader()
        self._tb = None
        if backend == "tensorboard":
            self._tb = tensorboard_writer()(str(self.run_dir / "tensorboard"), purge_step=resume_step or None)

    def _truncate_after(self, step: int) -> None:
        if not self.path.is_file():
            return
        with open(self.path, newline="") as f:
            rows = list(csv.DictReader(f))
        keep = [r for r in rows if r.get("step") and int(float(r["step"])) <= step] if step else []
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            w.writeheader()
            w.writerows(keep)

    def row(self, values: dict) -> None:
        self._csv.writerow({k: _fmt(values.get(k)) for k in COLUMNS})
        self._file.flush()
        if self._tb is not None:
            step = int(values["step"])
            for k in COLUMNS[1:]:
                if values.get(k) is not None:
                    self._tb.add_scalar(f"train/{k}", float(values[k]), step)

    def image(self, step: int, rgb: np.ndarray) -> Path:
        """A preview render (uint8 [H, W, 3]) to preview/ and TensorBoard."""
        import imageio.v3 as iio  # noqa: PLC0415

        out = self.run_dir / "preview" / f"step_{step:07d}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(out, rgb)
        if self._tb is not None:
            self._tb.add_image("preview/rgb", rgb, step, dataformats="HWC")
        return out

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def read_log(run_dir: Path) -> Optional[list[dict]]:
    """log.csv of a run as a list of rows with numbers (None where empty); None without a log."""
    path = Path(run_dir) / "log.csv"
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()} for r in rows]
