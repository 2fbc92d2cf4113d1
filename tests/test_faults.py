"""Faults and interruptions (issue 35): nothing half-done is taken for done, nothing shipped is overwritten, and a
person's mistake gets a message and an exit code, never a traceback.

Read top to bottom as a list: the eight bugs of the second hardening round and the CAM case first (each of these
failed on the code before the fix), then half-done runs, then the command line's messages. Everything is small:
toy faces, tiny notebooks of three cells, subprocesses with one thread.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

import facekit.paths
from facekit.data import FaceSet
from facekit.data.fer import EMOTIONS
from facekit.data.loaders import DataError, load_au_labels, load_fer2013

ROOT = Path(__file__).resolve().parents[1]
PIX = " ".join(["7"] * 2304)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def toy_faces(n_per_class=6, seed=0) -> FaceSet:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(EMOTIONS)).repeat(n_per_class)
    images = (100 + 30 * torch.randn(len(labels), 48, 48, generator=g)).clamp(0, 255).to(torch.uint8)
    usage = torch.tensor([i % 3 for i in range(len(labels))])
    return FaceSet(images, emotion=labels, usage=usage, source=f"toy seed {seed}")


def tiny_notebook(folder: Path, body: str = "y = 2", name: str = "00_tiny.ipynb") -> Path:
    """A three-code-cell notebook: parameters, ``body``, and a last cell that must run for the run to be complete."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("QUICK = False\nINTERACTIVE = True")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# tiny"), params, nbformat.v4.new_code_cell(body),
                nbformat.v4.new_code_cell("z = 3")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    nbformat.write(nb, path)
    return path


def workbook_root(tmp_path: Path, body: str = "y = 2") -> Path:
    """A git checkout with one notebook, the shape check_run() expects."""
    root = tmp_path / "root"
    tiny_notebook(root / "notebooks", body)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def executed_copy(path: Path, *, executed=True, end_time="2099-01-01T00:00:01", record=True) -> Path:
    """A hand-made executed notebook whose start is in the future (so it is never stale)."""
    cells = [{"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": [],
              "execution_count": 1},
             {"cell_type": "code", "source": "y = 2", "metadata": {}, "outputs": [],
              "execution_count": 2 if executed else None}]
    meta = {"papermill": {"start_time": "2099-01-01T00:00:00", "end_time": end_time, "exception": None,
                          "parameters": {"QUICK": False}}}
    if record:
        meta["facekit"] = {"environment": {"python": "3"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}))
    return path


# ============================================================================ the eight bugs and the CAM case

def test_bug1_train_fau_out_never_replaces_a_file_without_force(tmp_path, monkeypatch, capsys):
    """Bug 1: `train-fau --out` overwrote any file, the shipped fau_resnet.pt included. Now an existing --out needs
    --force, and a file in data/checkpoints/ is refused even with it (only --ship writes there); before any work."""
    from facekit_tools.cli import main

    shipped = tmp_path / "data" / "checkpoints"
    shipped.mkdir(parents=True)
    monkeypatch.setattr(facekit.paths, "shipped_checkpoint_dir", lambda: shipped)
    monkeypatch.setattr("facekit.fau.train.pretrain_fau", lambda *a, **k: pytest.fail("training started"))
    mine, ship = tmp_path / "mine.pt", shipped / "fau_resnet.pt"
    for path in (mine, ship):
        path.write_bytes(b"precious")
    assert main(["train-fau", "--out", str(mine), "--threads", "1"]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    for extra in ([], ["--force"]):
        assert main(["train-fau", "--out", str(ship), "--threads", "1", *extra]) == 2
        assert "shipped checkpoint" in capsys.readouterr().err
    assert mine.read_bytes() == ship.read_bytes() == b"precious"


def test_bug2_an_interrupted_training_is_never_found_as_the_trained_model(tmp_path):
    """Bug 2: the trainer wrote its best-so-far model where the notebooks look, so after Ctrl-C at epoch 1 notebook
    03 used it. Now the unfinished best stays `<name>_best.pt`; find_checkpoint falls back to the shipped copy;
    resuming finishes the run and only then publishes `<name>.pt`."""
    from facekit.emotion.train import TrainConfig, Trainer

    data, config = toy_faces(), TrainConfig(epochs=2, batch_size=16)
    trainer = Trainer(data, config, ckpt_dir=tmp_path, progress=False)
    real_epoch, calls = trainer.train_epoch, []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during epoch 2
        return real_epoch(*a, **k)

    trainer.train_epoch = interrupted
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert facekit.paths.find_checkpoint("emotion_minixception.pt", tmp_path) != tmp_path / "emotion_minixception.pt"
    assert trainer.progress_path.is_file() and trainer.last_path.is_file()
    resumed = Trainer(data, config, ckpt_dir=tmp_path, progress=False).resume()
    assert resumed.epoch == 1
    resumed.fit()
    assert facekit.paths.find_checkpoint("emotion_minixception.pt", tmp_path) == tmp_path / "emotion_minixception.pt"


def test_bug3_a_dead_kernel_names_notebook_cell_and_memory_and_fails_check_run(tmp_path):
    """Bug 3: a killed kernel gave a raw DeadKernelError, and the executed copy (exception None, later cells never
    run) passed check_run. Now NotebookFailed names the notebook, the cell and the likely cause, and the copy is
    refused."""
    from facekit_tools.handin.supplementary import SupplementaryRefused, check_run
    from facekit_tools.runner import NotebookFailed, execute_notebook

    root = workbook_root(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    with pytest.raises(NotebookFailed) as err:
        execute_notebook(root / "notebooks" / "00_tiny.ipynb", executed_dir=root / "build" / "notebooks")
    text = str(err.value)
    assert "00_tiny.ipynb" in text and "cell 3" in text and "memory" in text
    with pytest.raises(SupplementaryRefused, match="00_tiny.ipynb"):
        check_run(root)


@pytest.mark.parametrize("case", ["cell never run", "no end time", "no run record"])
def test_bug3_check_run_requires_every_cell_end_time_and_run_record(tmp_path, case):
    """Bug 3: an executed copy whose later cells never ran, or whose run was killed (end_time None), passed."""
    from facekit_tools.handin.supplementary import SupplementaryRefused, check_run

    root = workbook_root(tmp_path)
    executed_copy(root / "build" / "notebooks" / "00_tiny.ipynb", executed=case != "cell never run",
                  end_time=None if case == "no end time" else "2099-01-01T00:00:01", record=case != "no run record")
    with pytest.raises(SupplementaryRefused, match="never ran|did not finish"):
        check_run(root)


def test_bug3_a_complete_executed_copy_still_passes(tmp_path):
    """The control: the same hand-made copy, complete, is accepted (so the refusals above are about the cases)."""
    from facekit_tools.handin.supplementary import check_run

    root = workbook_root(tmp_path)
    executed_copy(root / "build" / "notebooks" / "00_tiny.ipynb")
    assert len(check_run(root)) == 1


def test_bug4_a_long_first_pixel_row_is_refused_without_allocating_for_it(tmp_path):
    """Bug 4: the first row set the column count of pandas' parse, so 400 faces and a 25,000-value first row
    allocated 400 x 25,000 floats (80 MB; 2.9 GB for 100k values). Tokens are now counted per row first."""
    csv = tmp_path / "fer.csv"
    rows = [f"0,{' '.join(['7'] * 25_000)},Training"] + [f"0,{PIX},Training"] * 399
    csv.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"row 1 .*expected 2304 pixel values \(48x48\), found 25000"):
            load_fer2013(csv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40e6, f"{peak / 1e6:.0f} MB traced"


def test_bug5_a_16_bit_greyscale_png_decodes_like_the_8_bit_one(tmp_path):
    """Bug 5: PIL's I;16 -> RGB conversion clipped, so a 16-bit face was blank white in the photo widget."""
    import cv2

    from facekit.widgets.photo import decode_photo

    face = (np.add.outer(np.arange(64), np.arange(64)) * 2).clip(0, 255).astype(np.uint8)
    ok, png16 = cv2.imencode(".png", face.astype(np.uint16) * 257)
    assert ok
    rgb = decode_photo(png16.tobytes(), "face16.png")
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb[..., 0].astype(int) - face).max() <= 1


def test_bug6_au6_and_au06_columns_are_refused_by_both_au_loaders(tmp_path):
    """Bug 6: both AU6 and AU06 crashed load_au_csv with AttributeError, and load_au_labels kept the last one."""
    from facekit.fau.data import load_au_csv

    csv = tmp_path / "au.csv"
    csv.write_text("path,AU6,AU06,AU10,AU12,AU14,AU17\nface.png,1,2,0,0,0,0\n")
    for load in (load_au_labels, load_au_csv):
        with pytest.raises(DataError, match=r"'AU6' and 'AU06' \(both AU6\)"):
            load(csv)


def test_bug7_a_full_disk_never_leaves_a_cut_off_executed_notebook(tmp_path, monkeypatch):
    """Bug 7: papermill's write is not atomic, so a full disk left invalid JSON that `supplementary` and `answers`
    then choked on. Now the run fails with the path and the cause, and no copy (cut off or old) is left."""
    import papermill.engines

    from facekit_tools.runner import execute_notebook

    nb = tiny_notebook(tmp_path / "nb")
    executed_dir = tmp_path / "executed"
    executed_copy(executed_dir / nb.name)  # the previous run's copy: must not pass for this one
    real, writes = papermill.engines.write_ipynb, []

    def full_disk(node, path):
        writes.append(path)
        if len(writes) == 3:
            Path(path).write_text('{"cells": [')  # the disk filled up mid-write
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(node, path)

    monkeypatch.setattr(papermill.engines, "write_ipynb", full_disk)
    with pytest.raises(OSError) as err:  # RunWriteError, an OSError
        execute_notebook(nb, executed_dir=executed_dir)
    assert "disk is full" in str(err.value) and str(executed_dir / nb.name) in str(err.value)
    assert not (executed_dir / nb.name).exists()
    assert [p.name for p in executed_dir.iterdir()] == []


def test_bug7_answers_and_supplementary_name_a_cut_off_notebook(tmp_path, capsys):
    """Bug 7: a cut-off executed notebook crashed `answers` and `supplementary` with a bare JSONDecodeError."""
    from facekit_tools.cli import main
    from facekit_tools.handin.supplementary import SupplementaryRefused, check_run

    root = workbook_root(tmp_path)
    cut = root / "build" / "notebooks" / "00_tiny.ipynb"
    cut.parent.mkdir(parents=True)
    cut.write_text('{"cells": [{"cell_type": "co')
    with pytest.raises(SupplementaryRefused, match=r"00_tiny.ipynb is not a readable notebook.*rerun"):
        check_run(root)
    assert main(["answers", "--executed", str(cut.parent), "--figures", str(tmp_path / "figs")]) == 1
    err = capsys.readouterr().err
    assert str(cut) in err and "Traceback" not in err


def test_bug8_realism_n_per_class_is_capped_before_any_work(monkeypatch, capsys):
    """Bug 8: `realism --n-per-class 100000000` rendered until memory ran out (7 GB after 30 s)."""
    from facekit_tools.cli import main
    from facekit.emotion import realism

    monkeypatch.setattr(realism, "realism_report", lambda *a, **k: pytest.fail("rendering started"))
    with pytest.raises(SystemExit) as exit_:
        main(["realism", "--n-per-class", "100000000"])
    assert exit_.value.code == 2
    assert "--n-per-class: must lie in 1..5000" in capsys.readouterr().err


def test_bug8_realism_report_refuses_an_uncapped_size(monkeypatch):
    from facekit.emotion import realism

    monkeypatch.setattr(realism, "evaluate_judge", lambda *a, **k: pytest.fail("rendering started"))
    with pytest.raises(ValueError, match="1..5,000"):
        realism.realism_report(10**8, judge=object())


def test_cam_without_targets_leaves_batchnorm_statistics_alone():
    """CAM case: compute_cams(targets=None) on a model in train mode ran the target-finding forward pass in train
    mode, which updated BatchNorm's running statistics (maps differed by up to 1.0)."""
    from facekit.emotion import MiniXception
    from facekit.explain.cam import compute_cams

    torch.manual_seed(0)
    model = MiniXception()
    x = torch.randn(4, 1, 48, 48) * 3 + 1
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    model.train()
    cams = compute_cams(model, x)
    after = {k: v for k, v in model.state_dict().items() if "running" in k}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training  # the mode is restored
    model.eval()
    assert np.allclose(cams, compute_cams(model, x), atol=1e-5)


# ============================================================================ half-done runs: temp files, locks

def test_a_killed_write_leaves_a_temp_file_that_the_next_trainer_sweeps(tmp_path):
    """Weak: SIGKILL while a checkpoint was written left a hidden .tmp.pt that nothing removed."""
    from facekit.emotion.train import TrainConfig, Trainer

    left = tmp_path / ".emotion_minixception_last.pt.k3j9x.tmp.pt"
    other = tmp_path / ".notes.txt.abc.tmp.txt"  # not a trainer's file: left alone
    left.write_bytes(b"half")
    other.write_bytes(b"mine")
    Trainer(toy_faces(2), TrainConfig(epochs=1, batch_size=16), ckpt_dir=tmp_path, progress=False)
    assert not left.exists() and other.exists()


def test_a_second_run_into_the_same_folder_is_refused_and_a_dead_runs_lock_taken_over(tmp_path, capsys):
    """Weak: two `facekit run` into one --out folder both went ahead."""
    from facekit_tools.cli import main
    from facekit_tools.runner import run_lock

    nb = tiny_notebook(tmp_path / "nb")
    lock = tmp_path / "out" / "notebooks" / ".facekit-run.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(f"{os.getppid()}\n")  # a live process holds it
    assert main(["run", str(nb), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"Another facekit run (process {os.getppid()})" in err and "Traceback" not in err
    lock.write_text("999999999\n")  # its run was killed
    with run_lock(lock.parent):
        assert lock.read_text().split()[0] == str(os.getpid())
    assert not lock.exists()


def test_papermill_p_quick_false_in_lower_case_is_refused_by_setup(tmp_path):
    """Weak: `papermill -p QUICK false` passed the text 'false', which is true: the full notebook ran."""
    namespace = {"QUICK": "false", "SCHEDULE": "cosine"}
    code = f"import facekit as fk\nfk.setup('00_x', out_dir={str(tmp_path)!r}, ckpt_dir={str(tmp_path)!r})"
    with pytest.raises(ValueError, match=r"QUICK = 'false' is text.*-p QUICK False"):
        exec(code, namespace)
    namespace["QUICK"] = False
    exec(code, namespace)  # a real boolean (and a plain text parameter) are fine


# ============================================================================ a person's mistake: message, exit code

def _one_screen(text: str) -> None:
    assert "Traceback" not in text and len(text.splitlines()) <= 25, text


@pytest.mark.parametrize("argv", [
    ["train-fau", "--width", "0"], ["train-fau", "--width", "-3"], ["train-fau", "--layers", "a,b"],
    ["train-fau", "--fg-weight", "-5"], ["train-fau", "--threads", "0"], ["train-fau", "--seed", str(2**70)],
    ["train-emotions", "--bn-momentum", "nan"], ["train-emotions", "--threads", "0"],
    ["train-emotions", "--seed", "-1"], ["synth", "fer", "--threads", "0"], ["realism", "--seed", str(2**70)],
])
def test_bad_option_values_are_refused_before_any_work(argv, monkeypatch, capsys):
    """Weak: --width 0 became 16, --fg-weight -5 trained on a negative loss, --bn-momentum nan was refused only
    after the data loaded, --layers a,b and --seed 2**70 gave tracebacks."""
    from facekit_tools.cli import main

    monkeypatch.setattr("facekit.emotion.cli.load_emotion_data", lambda *a, **k: pytest.fail("data loaded"))
    monkeypatch.setattr("facekit.fau.train.pretrain_fau", lambda *a, **k: pytest.fail("training started"))
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[-2]}" in err
    _one_screen(err)


def _train_emotions(monkeypatch, tmp_path, args, data=None):
    from facekit_tools.cli import main

    monkeypatch.setattr(facekit.paths, "shipped_checkpoint_dir", lambda: tmp_path / "shipped")
    monkeypatch.setattr(facekit.paths, "build_dir", lambda *parts: (tmp_path / "build").joinpath(*parts))
    monkeypatch.setattr("facekit.emotion.cli.load_emotion_data",
                        lambda *a, **k: data if data is not None else pytest.fail("data loaded"))
    return main(["train-emotions", "--epochs", "1", "--batch-size", "32", "--no-progress", "--threads", "1", *args])


def test_a_work_dir_or_out_that_is_a_file_is_refused_before_the_data_loads(tmp_path, monkeypatch, capsys):
    """Weak: a --work-dir that is a file gave a traceback after the data had loaded."""
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert _train_emotions(monkeypatch, tmp_path, ["--work-dir", str(a_file)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert _train_emotions(monkeypatch, tmp_path, ["--out", str(a_file / "m.pt")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only")])
def test_a_full_or_read_only_disk_while_training_gives_a_message_and_exit_1(tmp_path, monkeypatch, capsys,
                                                                              code, words):
    """Weak: a full or read-only disk gave a traceback once training wrote its first checkpoint."""
    import facekit.io

    def refuse(path, data):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(facekit.io, "atomic_write_bytes", refuse)
    assert _train_emotions(monkeypatch, tmp_path, [], toy_faces(2)) == 1
    err = capsys.readouterr().err
    assert words in err and "emotion_minixception" in err
    _one_screen(err)


def test_realism_and_run_refuse_an_out_that_is_a_file(tmp_path, monkeypatch, capsys):
    from facekit_tools.cli import main
    from facekit.emotion import realism

    monkeypatch.setattr(realism, "realism_report", lambda *a, **k: pytest.fail("rendering started"))
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main(["realism", "--out", str(a_file)]) == 1
    assert "a file stands where a folder belongs" in capsys.readouterr().err
    assert main(["run", str(tiny_notebook(tmp_path / "nb")), "--out", str(a_file), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "a file stands where a folder belongs" in err
    _one_screen(err)


@pytest.mark.parametrize("env, words", [
    ({"FACEKIT_THREADS": "abc"}, "$FACEKIT_THREADS='abc' is not a number"),
    ({"FACEKIT_DEVICE": "banana"}, "$FACEKIT_DEVICE='banana': not a device name"),
    ({"FACEKIT_ROOT": "/no/such/checkout"}, "FACEKIT_ROOT=/no/such/checkout is not a facekit checkout"),
])
def test_doctor_reports_the_environment_variables_it_diagnoses(env, words, monkeypatch, capsys):
    """Weak: `facekit doctor` crashed on the very variables it exists to diagnose."""
    from facekit_tools.cli import main

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["doctor", "--strict"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM" in out and words in out and "Traceback" not in out


def test_doctor_cuda_without_a_gpu_is_a_problem_line(monkeypatch, capsys):
    from facekit.doctor import report

    monkeypatch.setenv("FACEKIT_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    text, ok = report()
    assert not ok and "$FACEKIT_DEVICE='cuda'" in text and "no CUDA GPU" in text


def test_doctor_strict_says_broken_for_a_fer2013_csv_that_training_rejects(tmp_path, monkeypatch):
    """Weak: `doctor --strict` said "real FER2013 present" for a CSV that training then refused."""
    from facekit.doctor import report

    (tmp_path / "fer2013").mkdir()
    (tmp_path / "fer2013" / "fer2013.csv").write_text("emotion,pixels,Usage\n9,1 2 3,Training\n")
    monkeypatch.setattr(facekit.paths, "data_dir", lambda *parts: tmp_path.joinpath(*parts))
    text, ok = report()
    assert not ok and "BROKEN: training would refuse it" in text and "emotion 9 is outside 0-6" in text


def test_resume_says_whether_it_resumed_and_from_which_epoch(tmp_path, monkeypatch, capsys):
    """Weak: --resume never said whether it resumed, or started fresh after a mistyped --work-dir."""
    data = toy_faces(2)
    work = tmp_path / "work"
    assert _train_emotions(monkeypatch, tmp_path, ["--resume", "--work-dir", str(work)], data) == 0
    assert f"--resume: no checkpoint at {work / 'emotion_minixception_last.pt'}, so training starts fresh" \
        in capsys.readouterr().err
    assert _train_emotions(monkeypatch, tmp_path, ["--resume", "--work-dir", str(work), "--epochs", "2"], data) == 0
    assert "continuing from" in capsys.readouterr().err  # argparse keeps the last --epochs (2)


def test_resuming_the_emotion_trainer_from_a_fau_checkpoint_names_it(tmp_path):
    """Weak: Trainer.resume(<FAU checkpoint>) said it held "weights only"."""
    from facekit.emotion.train import TrainConfig, Trainer
    from facekit.fau.model import FAUConfig, build_fau_model, fau_checkpoint
    from facekit.io import save_checkpoint

    model = build_fau_model(FAUConfig(base_width=8, deconv_filters=(16, 16, 16), input_size=64))
    path = save_checkpoint(fau_checkpoint(model, optimizer={}, scheduler={}), tmp_path / "fau.pt")
    with pytest.raises(ValueError, match="not a Task 1 emotion checkpoint.*train-fau --resume"):
        Trainer(toy_faces(2), TrainConfig(), progress=False).resume(path)


# ============================================================================ interruptions, then the next step

def _facekit(args, cache: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FACEKIT_THREADS": "1", "FACEKIT_CACHE": str(cache),
           "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "facekit_tools", *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _when(condition, proc: subprocess.Popen, what: str) -> None:
    """Wait (polling, no timing assertion) until ``condition()``; fail if the process ends first."""
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the process ended before {what}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)


SIGNALS = {"SIGINT": (signal.SIGINT, 130), "SIGTERM": (signal.SIGTERM, 143), "SIGKILL": (signal.SIGKILL, -9)}


def test_a_trainer_stopped_by_sigint_sigterm_sigkill_leaves_nothing_finished_and_resumes(tmp_path):
    """Ctrl-C, then SIGTERM, then SIGKILL of `train-emotions` (each after an epoch was saved; each next start is the
    `--resume` the message asks for): a message with the command that continues (not a 40-line traceback), no
    model where notebooks or --out look, a temp file of a killed write swept, and the last `--resume` finishes."""
    work, out = tmp_path / "work", tmp_path / "model.pt"
    args = ["train-emotions", "--n-scale", "0.002", "--batch-size", "16", "--no-progress", "--threads", "1",
            "--work-dir", str(work), "--out", str(out), "--resume"]
    last = work / "emotion_minixception_last.pt"
    for name, (sig, code) in SIGNALS.items():
        before = last.stat().st_mtime_ns if last.exists() else None
        proc = _facekit([*args, "--epochs", "500"], tmp_path / "cache")
        _when(lambda: last.is_file() and last.stat().st_mtime_ns != before, proc, "an epoch was saved")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == code, (name, err[-2000:])
        assert ("training starts fresh" if before is None else "--resume: continuing from") in err
        if sig != signal.SIGKILL:
            assert "to go on, run:" in err and "--resume" in err.split("to go on, run:")[1]
            _one_screen(err[err.index("train-emotions: interrupted" if name == "SIGINT" else "train-emotions: st"):])
        assert not out.exists() and not (work / "emotion_minixception.pt").exists()
    (work / ".emotion_minixception_last.pt.x1y2.tmp.pt").write_bytes(b"cut")  # what a kill mid-write leaves
    proc = _facekit([*args, "--epochs", "1"], tmp_path / "cache")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert "nothing left to train" in err
    assert out.is_file() and (work / "emotion_minixception.pt").is_file()
    assert not list(work.glob(".*.tmp*"))


def test_facekit_run_stopped_by_sigint_sigterm_sigkill_keeps_no_executed_copy_and_the_rerun_completes(tmp_path):
    """Ctrl-C, then SIGTERM, then SIGKILL of `facekit run` in a notebook's second cell (each next start is the rerun
    the message asks for): a message with the run command (not a traceback), no executed copy that could pass for a
    run; the last rerun completes with its run record, and no lock or partial file is left."""
    mark = tmp_path / "started"
    body = f"import os, time\nif not os.path.exists({str(mark)!r}):\n    open({str(mark)!r}, 'w').close()\n" \
           "    time.sleep(120)"
    root = workbook_root(tmp_path, body)
    nb, out = root / "notebooks" / "00_tiny.ipynb", tmp_path / "out"
    for name, (sig, code) in SIGNALS.items():
        mark.unlink(missing_ok=True)
        proc = _facekit(["run", str(nb), "--out", str(out), "--quiet"], tmp_path / "cache")
        _when(mark.exists, proc, "the cell started")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == code, (name, err[-2000:])
        if sig != signal.SIGKILL:
            assert "to go on, run:" in err and "facekit run 00" in err
            _one_screen(err[err.index("facekit run: "):])
        assert not (out / "notebooks" / "00_tiny.ipynb").exists()
    proc = _facekit(["run", str(nb), "--out", str(out), "--quiet"], tmp_path / "cache")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    nb_json = json.loads((out / "notebooks" / "00_tiny.ipynb").read_text())
    assert nb_json["metadata"]["facekit"]["run"]["complete"] and nb_json["metadata"]["papermill"]["end_time"]
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == ["00_tiny.ipynb"]  # lock and partial gone
