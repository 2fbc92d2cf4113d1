"""The renderer's layout: one module per step, one painter per face region, imports one way, same bytes twice.

These check what splitting :mod:`facekit.synth.render` could break: a painter drawing outside its window (an AU
would then leak out of its region), a feature no longer wired to its painter, a module or function growing back
past the house size, an import cycle, a name other code imports from ``facekit.synth.render`` gone missing.
"""
from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest
import torch

import facekit.synth
from facekit.synth import FEATURES, render, render_faces, texture
from facekit.synth.facs import AUS
from facekit.synth.geometry import face_geometry
from facekit.synth.params import _generator, draw_identity, draw_nuisance

SYNTH = Path(facekit.synth.__file__).parent
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _modules():
    return sorted(SYNTH.glob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_synth_modules_and_functions_stay_small(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name}: split it along its own sections"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{path.name}:{node.lineno} {node.name} has {length} lines"


def _synth_imports(path: Path) -> set[str]:
    """The facekit.synth modules that ``path`` imports at module level."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("facekit.synth."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.ImportFrom) and node.module == "facekit.synth":
            found.update(a.name for a in node.names if (SYNTH / f"{a.name}.py").exists())
    return found


def test_synth_imports_run_one_way():
    graph = {p.stem: _synth_imports(p) for p in _modules() if p.stem != "__init__"}
    done: set[str] = set()

    def visit(name, path):
        assert name not in path, f"import cycle: {' -> '.join(path + (name,))}"
        if name not in done:
            for dep in graph.get(name, ()):
                visit(dep, path + (name,))
            done.add(name)

    for name in graph:
        visit(name, ())
    # the steps of the renderer depend only on earlier steps
    assert "render" not in graph["params"] | graph["geometry"] | graph["texture"] | graph["compose"]
    assert "compose" not in graph["texture"] and "texture" not in graph["geometry"]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_imports_sit_at_the_top_unless_lazy_for_a_stated_reason(path):
    """An import inside a function is kept only for a heavy or optional library, with a ``# lazy: why`` comment."""
    lines = path.read_text().splitlines()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    here = " ".join(lines[max(0, inner.lineno - 2):inner.lineno])
                    assert "# lazy:" in here, f"{path.name}:{inner.lineno}: move the import to the module top"
                    module = inner.module if isinstance(inner, ast.ImportFrom) else inner.names[0].name
                    assert not module.startswith("facekit"), f"{path.name}:{inner.lineno}: {module} is not heavy"


def test_cli_command_is_added_by_add_command():
    from facekit.synth import cli

    assert not hasattr(cli, "register"), "the facekit front calls add_command; 'register' means aligning a face"
    sub = argparse.ArgumentParser().add_subparsers()
    cli.add_command(sub)
    assert "synth" in sub.choices


def test_names_other_code_imports_from_render_are_still_there():
    for name in ("DOMAINS", "FEATURES", "GENERATOR_VERSION", "LANDMARK_NAMES", "OPTIONAL_FEATURES", "PIXEL_BATCH",
                 "WILD_FACTORS", "check_as_lab", "draw_identity", "draw_nuisance", "face_geometry",
                 "feature_to_image", "landmarks_from_geometry", "render_chunk", "render_faces", "_generator",
                 "_IDENTITY", "_NUISANCE", "_P_OCCLUDED", "_c", "_feature_x", "_pixel_grid"):
        assert hasattr(render, name), name
    assert set(render.__all__) <= set(dir(render))


def test_pixel_batch_is_read_where_tests_patch_it(monkeypatch):
    """tests/test_synth.py slices a chunk by patching ``render.PIXEL_BATCH``; that must reach render_chunk."""
    calls = []
    real = render._render_pixels

    def counting(*args, **kwargs):
        calls.append(len(args[0]["face_w"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(render, "_render_pixels", counting)
    monkeypatch.setattr(render, "PIXEL_BATCH", 7)
    render_faces(20, seed=3, chunk=20)
    assert calls == [7, 7, 6]


# ---------------------------------------------------------------------------------------------------------------
# Painters

def _faces(n=6, seed=0, domain="wild"):
    """Identities with glasses and beards, and strong random AUs, so every painter has something to paint."""
    ident = draw_identity(n, _generator("layout", seed, "id"), domain)
    ident["glasses"] = torch.ones(n)
    ident["beard"] = torch.full((n,), 0.8)
    au = torch.rand(n, len(AUS), generator=_generator("layout", seed, "au")) * 4 + 1
    return ident, face_geometry(ident, au)


def _outside(cv, window: str) -> torch.Tensor:
    mask = torch.ones(cv.h, cv.w, dtype=torch.bool)
    sl, _, _ = cv.window(window)
    mask[sl[0], sl[1]] = False
    return mask


@pytest.mark.parametrize("photo", [False, True], ids=["drawn", "photo"])
@pytest.mark.parametrize("region", list(texture._MARK_PAINTERS))
def test_each_mark_painter_paints_only_inside_its_window(region, photo):
    ident, g = _faces()
    cv = texture._Canvas(48, soft=True)
    darken, brighten = torch.zeros(len(g["ex"]), cv.h, cv.w), torch.zeros(len(g["ex"]), cv.h, cv.w)
    texture._MARK_PAINTERS[region](darken, brighten, cv, g, ident, photo=photo)
    out = _outside(cv, region)
    assert not darken[:, out].any() and not brighten[:, out].any()
    painted = darken.abs().sum() + brighten.abs().sum()
    if photo and region == "lower":  # a photo face keeps its own beard
        assert painted == 0
    else:
        assert painted > 0


def test_eye_sockets_stay_in_the_eye_window():
    ident, g = _faces()
    cv = texture._Canvas(64)
    darken = torch.zeros(len(g["ex"]), cv.h, cv.w)
    texture._eye_sockets(darken, cv, g)
    assert darken.abs().sum() > 0 and not darken[:, _outside(cv, "eyes")].any()


@pytest.mark.parametrize("painter, window", [("lips", "mouth"), ("brows", "forehead"), ("eyes", "eyes"),
                                             ("glasses", "eyes")])
def test_each_feature_painter_paints_only_inside_its_window(painter, window):
    ident, g = _faces()
    n, cv = len(g["ex"]), texture._Canvas(48)
    nuis = draw_nuisance(n, _generator("layout", "nuis"), "wild")
    col = render._colors(ident, nuis, True, "wild")
    face, _, _ = texture._face_cover(cv, g)
    img = torch.rand(n, 3, cv.h, cv.w, generator=_generator("layout", "img"))
    before = img.clone()
    args = {"lips": (img, face, cv, g, col), "brows": (img, face, cv, g, ident, col),
            "eyes": (img, cv, g, ident, col, frozenset(FEATURES)), "glasses": (img, cv, g, ident, col)}[painter]
    after = getattr(texture, f"_paint_{painter}")(*args)
    changed = (after != before).any(1)
    assert changed.any(), f"{painter} painted nothing"
    assert not changed[:, _outside(cv, window)].any(), f"{painter} painted outside the {window} window"


def test_texture_layers_have_the_documented_shapes():
    ident, g = _faces(n=3)
    col = render._colors(ident, draw_nuisance(3, _generator("layout", "nuis"), "lab"), False, "lab")
    cv = texture._Canvas(48)
    drawn = texture._texture(ident, g, col, 48, False, FEATURES)
    photo = texture._texture(ident, g, col, 48, False, FEATURES + ("photo",))
    assert drawn.shape == (3, 1 + 2, cv.h, cv.w) and photo.shape == (3, 4, cv.h, cv.w)
    assert drawn.isfinite().all() and photo.isfinite().all()
    assert 0 <= float(photo.min()) and float(photo.max()) <= 1


# ---------------------------------------------------------------------------------------------------------------
# Renders

@pytest.mark.parametrize("kwargs", [
    dict(domain="lab", size=48),
    dict(domain="wild", size=64, color=True),
    dict(domain="wild", size=48, features=FEATURES + ("photo",)),
    dict(domain="wild", size=48, as_lab=("light", "pose")),
    dict(domain="lab", size=48, nuisance=False, emotion=3),
], ids=["lab48", "wild64color", "photo", "as_lab", "clean"])
def test_renders_are_deterministic(kwargs):
    one = render_faces(12, seed=17, chunk=8, **kwargs)
    two = render_faces(12, seed=17, chunk=8, **kwargs)
    for name in ("images", "au", "emotion", "clean_emotion", "landmarks"):
        assert torch.equal(getattr(one, name), getattr(two, name)), name
    g1, g2 = one.extra["geometry"], two.extra["geometry"]
    assert g1.keys() == g2.keys() and all(torch.equal(g1[k], g2[k]) for k in g1)


@pytest.mark.parametrize("feature", FEATURES)
def test_every_feature_still_changes_the_pixels(feature):
    """Each feature switched off leaves the random draws alone and changes the faces (its painter is wired)."""
    full = render_faces(6, seed=4, domain="wild")
    without = render_faces(6, seed=4, domain="wild", features=tuple(f for f in FEATURES if f != feature))
    assert torch.equal(full.au, without.au) and torch.equal(full.emotion, without.emotion)
    assert not torch.equal(full.images, without.images)


def test_an_au_changes_the_half_texture_only_inside_its_windows():
    """AU12 (lip corners up) changes the texture from the cheeks down: never the forehead, brows or eyes."""
    ident, _ = _faces(n=2)
    au = torch.zeros(2, len(AUS))
    smile = au.clone()
    smile[:, AUS.index(12)] = 5
    col = render._colors(ident, draw_nuisance(2, _generator("layout", "nuis"), "lab", enabled=False), False, "lab")
    a = texture._texture(ident, face_geometry(ident, au), col, 48, False, FEATURES)
    b = texture._texture(ident, face_geometry(ident, smile), col, 48, False, FEATURES)
    cv = texture._Canvas(48)
    changed = (a != b).any(1).any(0)
    rows = changed.nonzero()[:, 0]
    assert len(rows), "AU12 changed nothing"
    top = texture._TEX_Y[0] + float(rows.min() + 0.5) / cv.d
    # the highest window AU12 acts in is the cheek's (it lifts the cheek a little); one texel of slack for rounding
    assert top >= texture._WINDOWS["cheek"][2] - 1 / cv.d
