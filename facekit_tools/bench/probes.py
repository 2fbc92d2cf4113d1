"""The measurements of ``facekit bench``, one function per thing measured, each runnable in a fresh process.

Every probe returns a dict with at least ``items`` (faces, images or subjects processed while the clock ran) and
``seconds`` (that wall time, warm-up excluded). :func:`run_probe` runs one in a child process
(:func:`main`, fed a JSON spec) with its own thread count, so that its peak resident memory
(``getrusage(RUSAGE_SELF).ru_maxrss``, read inside the child at the end) is its own and not inherited from an earlier
measurement; ``isolate=False`` runs it in this process instead (fast, for tests; memory is then this process's peak).

Task 1 and FAU throughput use random pixels of the real sizes: the cost of a training step does not depend on what
the faces show, and random faces keep the benchmark independent of the generator. Rendering uses the generator.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Callable

import numpy as np
import torch

from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTIONS
from facekit.emotion.augment import center_crop
from facekit.emotion.metrics import predict
from facekit.emotion.train import TrainConfig
from facekit.emotion.train import Trainer
from facekit.emotion.train import safe_batch_size
from facekit.emotion.xception import MiniXception
from facekit.emotion.xception import preprocess
from facekit.explain.cam import guided_gradcam as explain
from facekit.fau.demo import predict_results
from facekit.fau.demo import subject_figure
from facekit.fau.fewshot import load_fewshot_faces
from facekit.fau.fewshot import tune_fewshot
from facekit.fau.model import FAUConfig
from facekit.fau.model import FAU_AUS
from facekit.fau.model import build_fau_model
from facekit.fau.model import fau_checkpoint
from facekit.fau.model import load_fau_model
from facekit.fau.train import train_fau
from facekit.io import save_checkpoint
from facekit.io import save_fig
from facekit import paths
from facekit.runtime import set_threads
from facekit.runtime import thread_governor
from facekit.synth import render_faces
from facekit_tools.bench.naive import train_naive
import facekit.emotion
from pathlib import Path
import tempfile
import torch.nn.functional as F

#: FER2013 Training / PublicTest+PrivateTest sizes (the 1x of the scaling runs and the per-epoch evaluation).
FER_TRAIN_SIZE = 28_709
FER_EVAL_SIZE = 7_178

PROBES: dict[str, Callable[..., dict]] = {}
_MARKER = "FACEKIT_BENCH_RESULT "
_CHILD = "import sys; from facekit_tools.bench.probes import main; sys.exit(main())"


def probe(fn: Callable[..., dict]) -> Callable[..., dict]:
    """Register ``fn`` as a probe under its name."""
    PROBES[fn.__name__] = fn
    return fn


# ------------------------------------------------------------------------------------------------ random inputs
def random_fer(n_train: int, n_eval: int = 0, seed: int = 0):
    """A FaceSet of random 48x48 faces: ``n_train`` Training rows, then ``n_eval`` PublicTest rows."""
    g = torch.Generator().manual_seed(seed)
    n = n_train + n_eval
    usage = torch.cat([torch.zeros(n_train, dtype=torch.int64), torch.ones(n_eval, dtype=torch.int64)])
    return FaceSet(torch.randint(0, 256, (n, 48, 48), dtype=torch.uint8, generator=g),
                   emotion=torch.randint(0, len(EMOTIONS), (n,), generator=g), usage=usage, source=f"random pixels (seed {seed})")


def random_au_data(n: int, size: int = 128, seed: int = 0):
    """A FaceSet of ``n`` random grey ``size`` x ``size`` faces with random intensities and plausible AU points."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    intensities = rng.uniform(0, 5, (n, len(FAU_AUS))).astype(np.float32)
    points = rng.uniform(0.25 * size, 0.75 * size, (n, len(FAU_AUS), 2, 2)).astype(np.float32)
    return FaceSet(torch.from_numpy(images), au=torch.from_numpy(intensities), aus=FAU_AUS,
                   points=torch.from_numpy(points), source=f"random pixels (seed {seed})")


def _trainer(n_train: int, batch_size: int, device: str, seed: int = 0):

    return Trainer(random_fer(n_train, seed=seed), TrainConfig(batch_size=batch_size, seed=seed), device=device,
                   progress=False)


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------------------------------- probes
@probe
def idle(device: str = "cpu") -> dict:
    """Python + torch + facekit imported, nothing run: the memory every other probe starts from."""
    return {"items": 0, "seconds": 0.0}


@probe
def render(n: int, size: int = 48, domain: str = "lab", device: str = "cpu") -> dict:
    """Faces per second of ``facekit.synth.render_faces`` at ``size`` (a small warm-up render first)."""
    render_faces(min(n, 64), seed=1, domain=domain, size=size)
    t0, c0 = time.perf_counter(), time.process_time()
    batch = render_faces(n, seed=0, domain=domain, size=size)
    seconds = time.perf_counter() - t0
    # one torch thread per op, torch.get_num_threads() chunks rendered side by side in Python threads
    return {"items": len(batch.images), "seconds": seconds, "cpu_seconds": time.process_time() - c0,
            "threads": torch.get_num_threads()}


@probe
def trainer(steps: int | None, batch_size: int = 128, n_train: int | None = None, warmup: int = 2,
            device: str = "cpu", late_busy: int = 0) -> dict:
    """The facekit trainer (:meth:`Trainer.train_epoch`): ``steps`` timed steps (``None``: one whole epoch);
    ``late_busy`` busy processes start when the timed steps do (after the warm-up), as other work appears in the
    middle of training. ``threads_end`` is the thread count at the end; ``thread_changes`` what the governor did."""

    n_train = n_train or batch_size * ((steps or 1) + warmup)
    tr = _trainer(n_train, batch_size, device)
    if warmup:
        tr.train_epoch(max_steps=warmup)
    _sync(device)
    threads = torch.get_num_threads()
    with busy_processes(late_busy, settle_s=0):
        c0 = time.process_time()
        result = tr.train_epoch(max_steps=steps)
        _sync(device)
        cpu = time.process_time() - c0
    governor = thread_governor()
    return {"items": result.images, "seconds": result.seconds, "steps": result.steps, "n_train": n_train,
            "channels_last": tr.channels_last, "cpu_seconds": cpu, "threads": threads,
            "threads_end": torch.get_num_threads(),
            "thread_changes": [list(h) for h in governor.history] if governor else []}


@probe
def ceiling(steps: int, batch_size: int = 128, warmup: int = 2, channels_last: bool | None = None,
            device: str = "cpu") -> dict:
    """The practical ceiling: the trainer's model and optimizer, forward + cross-entropy + backward + step on one
    pre-made random batch (no data handling at all). ``channels_last=None`` uses the trainer's choice."""


    cfg = TrainConfig(batch_size=batch_size, seed=0, channels_last=channels_last)
    tr = Trainer(random_fer(batch_size), cfg, device=device, progress=False)
    model, opt = tr.model, tr.optimizer
    b = safe_batch_size(batch_size, tr.channels_last)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, 1, cfg.crop, cfg.crop, generator=g).to(device)
    if tr.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 7, (b,), generator=g).to(device)
    model.train()

    def step():
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step().item()  # the trainer also reads the loss every step
    _sync(device)
    return {"items": b * steps, "seconds": time.perf_counter() - t0, "steps": steps,
            "channels_last": tr.channels_last, "cpu_seconds": time.process_time() - c0}


@probe
def naive(steps: int, batch_size: int = 128, num_workers: int = 0, warmup: int = 2, n_train: int | None = None,
          device: str = "cpu") -> dict:
    """The starter-kit baseline (:func:`facekit_tools.bench.naive.train_naive`): DataLoader + per-sample PIL transforms."""
    n_train = n_train or batch_size * (steps + warmup)
    run = train_naive(random_fer(n_train), steps, warmup=warmup, batch_size=batch_size, num_workers=num_workers,
                      device=device)
    out = {"items": run.images, "seconds": run.seconds, "steps": run.steps, "num_workers": num_workers}
    if num_workers == 0:
        out["cpu_seconds"] = run.cpu_seconds
    return out


@probe
def inference(n: int, batch_size: int = 512, channels_last: bool = False, device: str = "cpu") -> dict:
    """``facekit.emotion.predict`` (centre crop, preprocess, eval-mode forward) on ``n`` faces."""
    torch.manual_seed(0)
    model = MiniXception().to(device).eval()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    faces = random_fer(n).images
    predict(model, faces[:min(n, batch_size)], batch_size=batch_size, device=device)
    _sync(device)
    t0 = time.perf_counter()
    predict(model, faces, batch_size=batch_size, device=device)
    _sync(device)
    return {"items": n, "seconds": time.perf_counter() - t0}


@probe
def guided_gradcam(n: int, batch_size: int = 16, device: str = "cpu") -> dict:
    """``facekit.explain.guided_gradcam`` (predictions + Grad-CAM + guided backprop) on ``n`` faces, in batches."""
    torch.manual_seed(0)
    model = MiniXception().to(device).eval()
    x = preprocess(center_crop(random_fer(n).images)).to(device)
    explain(model, x[:2])
    t0 = time.perf_counter()
    for start in range(0, n, batch_size):
        explain(model, x[start:start + batch_size])
    return {"items": n, "seconds": time.perf_counter() - t0}


@probe
def fau_pretrain(steps: int, batch_size: int = 32, warmup: int = 1, device: str = "cpu") -> dict:
    """``facekit.fau.train.train_fau`` (augmented batches, heatmap targets, Adam) on random 128x128 faces."""
    torch.manual_seed(0)
    model = build_fau_model(FAUConfig())
    if warmup:
        train_fau(model, random_au_data(batch_size * warmup, seed=1), epochs=1, batch_size=batch_size,
                  device=device, progress=False)
    history = train_fau(model, random_au_data(batch_size * steps), epochs=1, batch_size=batch_size, device=device,
                        progress=False)
    return {"items": batch_size * steps, "seconds": float(history["seconds"].sum()), "steps": steps}


def _fau_checkpoint(tmp_dir: str) -> str:
    """The shipped FAU checkpoint when present, else a freshly initialised one saved to ``tmp_dir``."""


    try:
        path = paths.find_checkpoint("fau_resnet.pt")
        if path is not None and Path(path).is_file():
            return str(path)
    except Exception:  # not shipped yet: benchmark an untrained model of the same architecture
        pass

    torch.manual_seed(0)
    path = Path(tmp_dir) / "fau_resnet.pt"
    save_checkpoint(fau_checkpoint(build_fau_model(FAUConfig())), path)
    return str(path)


def _fewshot_faces(n: int):
    try:

        data = load_fewshot_faces()
        return data.subset(np.arange(min(n, len(data)))), "the shipped few-shot faces"
    except Exception:
        return random_au_data(n, seed=2), "random faces (data/fau/train not found)"


@probe
def fau_fewshot(epochs: int = 5, n: int = 10, batch_size: int = 4, device: str = "cpu") -> dict:
    """``facekit.fau.fewshot.tune_fewshot`` at its defaults (lr 1e-4, batch 4, augmentation) on ``n`` faces;
    timed: the training epochs (from the trainer's history), loading and the before/after losses excluded."""


    faces, what = _fewshot_faces(n)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = _fau_checkpoint(tmp)
        tune_fewshot(ckpt, faces.subset(np.arange(min(2, len(faces)))), epochs=1, batch_size=batch_size)
        t0 = time.perf_counter()
        _, history = tune_fewshot(ckpt, faces, epochs=epochs, batch_size=batch_size)
        total = time.perf_counter() - t0
    return {"items": len(faces) * epochs, "seconds": float(history["seconds"].sum()), "run_seconds": total,
            "faces": what, "ran_on": "cpu"}  # tune_fewshot has no device argument


@probe
def fau_demo(subjects: int = 5, device: str = "cpu") -> dict:
    """Seconds per subject of the Task 2 demo, one subject at a time as the notebook's ``visualize/`` loop does:
    :func:`facekit.fau.demo.predict_results` (heatmaps + intensities), :func:`~facekit.fau.demo.subject_figure`
    (face + five overlays) and saving it as PNG. ``model_seconds`` is the prediction part alone."""

    import matplotlib  # lazy: plotting only; the CLI and training paths never load matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib


    faces, what = _fewshot_faces(subjects)
    with tempfile.TemporaryDirectory() as tmp:
        model = load_fau_model(_fau_checkpoint(tmp)).eval()   # the demo API runs on the CPU

        def one(i: int) -> float:
            t0 = time.perf_counter()
            res = predict_results(model, faces.images[i:i + 1], faces.names[i:i + 1])
            model_s = time.perf_counter() - t0
            fig = subject_figure(res, 0)
            save_fig(fig, f"visualize/{faces.names[i]}", out_dir=tmp, report=False)  # the PNG path, as documented
            plt.close(fig)
            return model_s

        one(0)
        t0 = time.perf_counter()
        model_seconds = sum(one(i) for i in range(len(faces)))
        seconds = time.perf_counter() - t0
    return {"items": len(faces), "seconds": seconds, "model_seconds": model_seconds, "faces": what,
            "ran_on": "cpu"}


# ------------------------------------------------------------------------------------------- process isolation
@contextmanager
def busy_processes(n: int, settle_s: float = 0.5):
    """``n`` CPU-bound child processes (``while True: pass``) for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]
    try:
        if n and settle_s:
            time.sleep(settle_s)
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def execute(name: str, threads: int | None = None, device: str = "cpu", auto_threads: bool = False,
            **kwargs) -> dict:
    """Run probe ``name`` here with ``threads`` intra-op threads (``auto_threads``: the number facekit's thread
    policy picks now, as a notebook's set-up does); add the thread count and peak memory."""
    if name not in PROBES:
        raise KeyError(f"Unknown benchmark probe {name!r}; known: {', '.join(PROBES)}")
    before = torch.get_num_threads()
    if auto_threads:

        set_threads()
    elif threads:
        torch.set_num_threads(int(threads))
    try:
        torch.manual_seed(0)
        result = PROBES[name](device=device, **kwargs)
        result.setdefault("threads", torch.get_num_threads())
        result.update(peak_rss_mb=peak_rss_mb(), device=device)
        if result.get("cpu_seconds") is not None and result.get("seconds"):
            # share of the cores it was given that it actually got: well below 1 = a busy machine (or idle threads)
            result["cpu_use"] = result["cpu_seconds"] / (result["seconds"] * result["threads"])
    finally:
        torch.set_num_threads(before)
    return result


def run_probe(name: str, threads: int | None = None, device: str = "cpu", isolate: bool = True,
              timeout: float | None = None, env: dict | None = None, auto_threads: bool = False, **kwargs) -> dict:
    """Run a probe, in a fresh child process by default; never raises for a failing probe: the result then holds
    ``error`` (what went wrong) instead of numbers, so one broken measurement does not lose the others.
    ``env`` changes the child's environment (a ``None`` value removes a variable; OpenMP reads these at start)."""
    if not isolate:
        try:
            return {**execute(name, threads, device, auto_threads, **kwargs), "isolated": False}
        except Exception as exc:  # a missing module or a bug in the measured code: report it in the table
            return {"error": f"{type(exc).__name__}: {exc}", "isolated": False}
    child_env = dict(os.environ)
    if threads:
        child_env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    for key, value in (env or {}).items():
        if value is None:
            child_env.pop(key, None)
        else:
            child_env[key] = str(value)
    env = child_env
    spec = json.dumps({"probe": name, "threads": threads, "device": str(device), "auto_threads": auto_threads,
                       "kwargs": kwargs})
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, spec], capture_output=True, text=True, env=env,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "isolated": True}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_MARKER):
            return {**json.loads(line[len(_MARKER):]), "isolated": True}
    tail = (proc.stderr or proc.stdout).strip().splitlines()
    return {"error": (tail[-1] if tail else f"child exited with status {proc.returncode}")[:300], "isolated": True}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m facekit_tools.bench.probes '{\"probe\": NAME, \"threads\": N, \"kwargs\": {...}}'",
              file=sys.stderr)
        return 2
    spec = json.loads(argv[0])
    result = execute(spec["probe"], spec.get("threads"), spec.get("device", "cpu"), spec.get("auto_threads", False),
                     **spec.get("kwargs", {}))
    print(_MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
