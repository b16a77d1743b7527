"""Run directories and checkpoints, written so that a kill at any moment loses nothing.

Layout of a run directory::

    run.json          the task name, format and artefact list: marks the directory as a run
    config.json       every setting of the run (written once, at the start)
    tokenizer.json    the task's artefacts, e.g. a vocabulary (written once, at the start)
    metrics.jsonl     one JSON object per logged step or evaluation
    loss.png          loss curves
    latest, best      pointer files naming a checkpoint directory
    ckpt/step-000000N/ (and ckpt/average/, the mean of the best checkpoints' weights, which
                        ``best`` names once training ends, when the run averages them)
        model.safetensors   weights (no pickle)
        state.pt            optimiser, scheduler, RNG, step, carried state (tensors and numbers
                            only, loaded with ``weights_only=True``)
        manifest.json       sha256 of every file above, of config.json and of the artefacts

A checkpoint is written into a temporary directory, renamed into place (atomic), and only then
named by ``latest``, itself replaced atomically: ``latest`` always names a complete checkpoint.
Loading checks every sha256, so a truncated or edited file is reported, never half-loaded.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pickle
import re
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from rnnkit.errors import RnnkitError
from rnnkit.files import atomic_write_bytes, atomic_write_json  # noqa: F401  (re-exported)

RUN_FILE = "run.json"
LOCK_FILE = ".lock"
CHECKPOINT_NAME = re.compile(r"step-\d{9}|average")
AVERAGE = "average"
CKPT_DIR = "ckpt"
POINTERS = ("latest", "best")
FORMAT = 2  # run.json "format": bumped when a run written before can no longer be read


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RnnkitError(f"{what} is missing: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RnnkitError(f"{what} is damaged ({exc.__class__.__name__}): {path}") from None


def make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RnnkitError(f"cannot create the folder {path}: {exc.strerror}") from None


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir`` for one writer. The lock is the kernel's (flock), so it ends with the
    process that holds it: a run killed with SIGKILL leaves no lock to clear by hand."""
    make_dir(run_dir)
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RnnkitError(f"cannot write in {run_dir}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise RnnkitError(
                f"{run_dir} is being written by another rnnkit process (pid {holder}); wait "
                "for it to finish or choose another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def lock_holder(run_dir: Path) -> str | None:
    """The pid of another live process holding ``run_dir``'s lock, or None when no one (or this
    process) holds it; nothing is created: a folder without a lock file has no holder."""
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            return None if holder == str(os.getpid()) else holder  # our own lock is no rival
        return None
    finally:
        os.close(fd)  # releases a lock taken just to test it


def run_info(run_dir: Path) -> dict:
    """run.json of ``run_dir``: {"task", "format", "artefacts"}; RnnkitError if not a run."""
    if not (run_dir / RUN_FILE).is_file():
        raise RnnkitError(f"{run_dir} is not an rnnkit run directory (no {RUN_FILE})")
    info = read_json(run_dir / RUN_FILE, "run file")
    if not isinstance(info, dict) or not isinstance(info.get("task"), str):
        raise RnnkitError(f"run file is malformed: {run_dir / RUN_FILE}")
    if info.get("format") != FORMAT:
        raise RnnkitError(
            f"{run_dir} was written by another rnnkit version (run format "
            f"{info.get('format')!r}, this version reads {FORMAT}); train it again"
        )
    return info


def static_files(run_dir: Path) -> list[str]:
    """Files written once at the start of a run that every checkpoint's manifest covers."""
    if not (run_dir / RUN_FILE).is_file():  # a bare Trainer output directory
        return []
    artefacts = run_info(run_dir).get("artefacts", [])
    names = ["config.json", *[a for a in artefacts if isinstance(a, str) and "/" not in a]]
    return [n for n in names if (run_dir / n).is_file()]


def prepare_run_dir(
    out: str | Path, task: str, resume: bool, files: dict[str, Any] | None = None
) -> Path:
    """Create (or check, when resuming) the run directory ``out`` for ``task``.

    A new run's ``files`` (config.json and the task's artefacts, name -> JSON object) are
    written first and run.json last, so a folder holds a run only once its settings are all
    there. Refuses a directory that holds anything else unless ``resume`` is set, and refuses
    ``resume`` where there is nothing to resume: existing files are never overwritten.
    """
    out = Path(out)
    check_run_dir(out, task, resume)
    if not resume:
        make_dir(out)
        files = files or {}
        for name, obj in files.items():
            atomic_write_json(out / name, obj)
        artefacts = [n for n in files if n != "config.json"]
        atomic_write_json(out / RUN_FILE, {"task": task, "format": FORMAT, "artefacts": artefacts})
    return out


def interrupted_setup(out: Path) -> bool:
    """True for a folder that a run began to set up and was killed before run.json: only our
    own files (a config.json with a run's sections, other .json files, temporaries) are in it."""
    if (out / RUN_FILE).exists():
        return False
    names = [p.name for p in out.iterdir() if p.name != LOCK_FILE and ".tmp" not in p.name]
    if not names:
        return True
    if "config.json" not in names or not all(n.endswith(".json") for n in names):
        return False
    try:
        config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and set(config) == {"task", "data", "model", "train"}


def check_run_dir(out: Path, task: str, resume: bool) -> None:
    """``prepare_run_dir``'s checks alone: nothing is created or changed."""
    if out.exists() and not out.is_dir():
        raise RnnkitError(f"out {out} exists and is not a directory")
    holder = lock_holder(out) if out.is_dir() else None
    if holder is not None:  # a live run: say which, instead of "holds files" or a takeover
        raise RnnkitError(
            f"out {out} is being written by another rnnkit process (pid {holder}); wait for it "
            "to finish or choose another folder"
        )
    if resume:
        if not (out / RUN_FILE).is_file():
            raise RnnkitError(f"resume: {out} holds no rnnkit run to resume")
        run = run_info(out)
        if run["task"] != task:
            raise RnnkitError(f"resume: {out} holds a {run['task']!r} run, not {task!r}")
        return
    if out.is_dir() and not interrupted_setup(out):
        if (out / RUN_FILE).is_file() and latest_checkpoint(out) is None:
            raise RnnkitError(
                f"out {out} holds a run stopped before its first checkpoint: resume it (it "
                "starts again from step 0 with its settings) or choose an empty directory"
            )
        raise RnnkitError(
            f"out {out} already holds files (another run?): resume it or choose an empty directory"
        )


def _pointer(run_dir: Path, name: str) -> Path | None:
    """The checkpoint that pointer file ``name`` names. Only a name of this run's own
    ``ckpt/`` folder is followed: a path that leads elsewhere is refused, not loaded."""
    p = run_dir / name
    if not p.is_file():
        return None
    try:
        target = p.read_bytes().decode("ascii").strip()
    except UnicodeDecodeError:
        raise RnnkitError(f"pointer file {p} is damaged (not a checkpoint name)") from None
    if not CHECKPOINT_NAME.fullmatch(target):
        raise RnnkitError(f"pointer file {p} names {target[:40]!r}, not a checkpoint of this run")
    path = run_dir / CKPT_DIR / target
    return path if path.is_dir() else None


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    return _pointer(Path(run_dir), "latest")


def best_checkpoint(run_dir: str | Path) -> Path | None:
    return _pointer(Path(run_dir), "best")


def step_name(step: int) -> str:
    return f"step-{step:09d}"


def save_checkpoint(
    run_dir: Path, step: int, model_state: dict[str, torch.Tensor], train_state: dict, best: bool,
    keep: Iterable[str] = (),
) -> Path:  # fmt: skip
    """Write checkpoint ``step`` and point ``latest`` (and ``best`` if asked) at it; remove the
    checkpoints neither pointer names, except those named in ``keep``."""
    root = run_dir / CKPT_DIR
    root.mkdir(exist_ok=True)
    name = step_name(step)
    final = root / name
    referenced = {p.name for p in (latest_checkpoint(run_dir), best_checkpoint(run_dir)) if p}
    if final.exists() and name not in referenced:
        shutil.rmtree(final)  # left by a run killed before it could name it
    if not final.exists():
        _install(run_dir, name, step, model_state, train_state)
    atomic_write_bytes(run_dir / "latest", name.encode())
    if best:
        atomic_write_bytes(run_dir / "best", name.encode())
    keep = {*keep, *(p.name for p in (latest_checkpoint(run_dir), best_checkpoint(run_dir)) if p)}
    for old in root.iterdir():
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    return final


def save_average(
    run_dir: Path, step: int, model_state: dict[str, torch.Tensor], train_state: dict,
    single_best: int,
) -> Path:  # fmt: skip
    """Write the averaged weights as checkpoint ``average`` and point ``best`` at it. Until the
    new one is complete ``best`` names checkpoint ``single_best``, so it never names a
    half-written or removed folder."""
    final = run_dir / CKPT_DIR / AVERAGE

    def make_room() -> None:
        atomic_write_bytes(run_dir / "best", step_name(single_best).encode())
        shutil.rmtree(final, ignore_errors=True)

    _install(run_dir, AVERAGE, step, model_state, train_state, make_room)
    atomic_write_bytes(run_dir / "best", AVERAGE.encode())
    return final


def _install(
    run_dir: Path, name: str, step: int, model_state: dict[str, torch.Tensor], train_state: dict,
    make_room: Callable[[], None] | None = None,
) -> None:  # fmt: skip
    """Write checkpoint folder ``name`` complete under a temporary name, call ``make_room``,
    then rename it into place: a kill at any moment leaves no half-written ``name``."""
    root = run_dir / CKPT_DIR
    tmp = root / f".tmp-{name}-{os.getpid()}"
    try:
        _write_checkpoint(tmp, run_dir, step, model_state, train_state)
        if make_room is not None:
            make_room()
        os.replace(tmp, root / name)
    except (OSError, RnnkitError) as exc:  # disk full, folder gone: keep what was there
        shutil.rmtree(tmp, ignore_errors=True)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise RnnkitError(
            f"cannot write checkpoint {name} in {root}: {why}; the previous one is intact"
        ) from None


def _unshared(model_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state as safetensors can write it: tied weights (a decoder's output layer that is its
    embedding) share one storage, which safetensors refuses, so each later name gets its own
    copy; ``load_state_dict`` copies both names into the one tied parameter, so loading ties them
    again."""
    tensors, storages = {}, set()
    for k, v in model_state.items():
        t = v.detach().contiguous().cpu()
        storage = t.untyped_storage().data_ptr()
        if storage in storages and t.numel():
            t = t.clone()
        storages.add(storage)
        tensors[k] = t
    return tensors


def _write_checkpoint(
    tmp: Path, run_dir: Path, step: int, model_state: dict[str, torch.Tensor], train_state: dict
) -> None:
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(_unshared(model_state), str(tmp / "model.safetensors"))
    torch.save(train_state, tmp / "state.pt")
    files = {f: sha256(tmp / f) for f in ("model.safetensors", "state.pt")}
    files.update({f: sha256(run_dir / f) for f in static_files(run_dir)})
    for f in ("model.safetensors", "state.pt"):
        with open(tmp / f, "rb") as fh:
            os.fsync(fh.fileno())
    atomic_write_json(tmp / "manifest.json", {"step": step, "sha256": files})


def verify_checkpoint(ckpt: Path) -> dict:
    """Check every file of ``ckpt`` against its manifest; return the manifest."""
    manifest = read_json(ckpt / "manifest.json", "checkpoint manifest")
    try:
        files = dict(manifest["sha256"])
    except (KeyError, TypeError):
        raise RnnkitError(f"checkpoint manifest is malformed: {ckpt / 'manifest.json'}") from None
    static = static_files(ckpt.parent.parent)
    for name, digest in files.items():
        path = ckpt / name if name not in static else ckpt.parent.parent / name
        if not path.is_file():
            raise RnnkitError(f"checkpoint file is missing: {path}")
        if sha256(path) != digest:
            raise RnnkitError(f"checkpoint file is truncated or was modified (checksum): {path}")
    return manifest


def resolve_checkpoint(run_dir: str | Path, which: str = "best") -> Path:
    """The verified checkpoint ``which`` ('best', falling back to 'latest'; or 'latest')."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RnnkitError(f"model directory not found: {run_dir}")
    run_info(run_dir)
    ckpt = (best_checkpoint(run_dir) if which == "best" else None) or latest_checkpoint(run_dir)
    if ckpt is None:
        raise RnnkitError(f"{run_dir} holds no complete checkpoint")
    verify_checkpoint(ckpt)
    return ckpt


def load_weights(ckpt: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(ckpt / "model.safetensors"))
    except (SafetensorError, OSError) as exc:
        raise RnnkitError(f"cannot read weights in {ckpt}: {exc}") from None


def load_into(model: torch.nn.Module, ckpt: Path) -> None:
    """Load checkpoint ``ckpt``'s weights into ``model``, refused in one line when they do not
    fit its settings."""
    try:
        model.load_state_dict(load_weights(ckpt))
    except RuntimeError:
        raise RnnkitError(f"the weights in {ckpt} do not fit the run's model config") from None


def load_train_state(ckpt: Path) -> dict:
    """The training state, unpickled with ``weights_only=True``: anything but tensors, numbers
    and containers of them (code to run, say) is refused without being run."""
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles before refusing them
            warnings.simplefilter("ignore")
            return torch.load(ckpt / "state.pt", map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise RnnkitError(
            f"the training state in {ckpt} holds objects other than tensors and numbers; "
            "refused unread (was it replaced?)"
        ) from None
    except Exception as exc:  # any other failure means a damaged file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RnnkitError(f"cannot read the training state in {ckpt}: {first[:200]}") from None
