"""A vectorized torch renderer of procedural faces whose expressions are caused by FACS Action Units: the API.

How it works, per batch of faces (no Python loop over pixels or faces), one module per step:

1. :mod:`facekit.synth.params`: identity, AU intensities and nuisances are drawn from three independent random
   streams per chunk (seeded from ``(seed, chunk)``), so the same seed gives the same bytes and a demo can change one
   AU while the identity stays.
2. :mod:`facekit.synth.geometry`: :func:`face_geometry` turns identity + AUs into feature positions in a *canonical
   face frame* (upright, centred, about 1.2 x 1.8 units; ``ua`` = distance from the midline, ``y`` down), e.g. AU12
   moves the lip corners up and out.
3. :mod:`facekit.synth.texture`: half the face (``ua >= 0``) is drawn in that frame, one painter per face region:
   every part (brows, eyes, nose, lips, furrows, wrinkles, cheeks, chin, hair, glasses, beard) is an analytic shape
   with a soft edge one texel wide (smoothstep on a signed distance: anti-aliased). Each region is evaluated only
   inside a static window that holds it for every identity and intensity, which keeps the work small. Every effect
   has compact support, so an AU changes pixels only inside its region (:mod:`facekit.synth.regions`).
4. :mod:`facekit.synth.compose`: the half texture is mirrored and warped into the image by the pose (roll, yaw-like
   squash, scale, translation) with ``grid_sample``; directional light, background clutter, occlusion,
   gamma/contrast, blur and sensor noise are then applied in image space.

This module holds what callers use: :func:`render_faces` (which returns a :class:`facekit.data.FaceSet`), the
constants, and
:func:`render_chunk`, which runs steps 2-4 on one chunk's draws.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import torch
from tqdm.auto import tqdm

from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTIONS
from facekit.runtime import adapt_threads
from facekit.synth.compose import _render_pixels
from facekit.synth.facs import AUS, clean_given_labels, noisy_labels, sample_expressions
from facekit.synth.geometry import LANDMARK_NAMES, face_geometry, feature_to_image, landmarks_from_geometry
from facekit.synth.params import (FEATURES, OPTIONAL_FEATURES, WILD_FACTORS, _check_features, _generator,
                                  check_as_lab, draw_identity, draw_nuisance)
# Helpers and tables that other modules and tests import from here; their homes are the step modules.
from facekit.synth.geometry import _feature_x, _pixel_grid  # noqa: F401
from facekit.synth.params import _IDENTITY, _NUISANCE, _P_BEARD, _P_BLUR, _P_GLASSES, _P_LONG, _P_OCCLUDED  # noqa: F401
from facekit.synth.shapes import _c  # noqa: F401

__all__ = [
    "DOMAINS", "FEATURES", "GENERATOR_VERSION", "LANDMARK_NAMES", "OPTIONAL_FEATURES", "PIXEL_BATCH", "WILD_FACTORS",
    "check_as_lab", "draw_identity", "draw_nuisance", "face_geometry", "feature_to_image",
    "landmarks_from_geometry", "render_chunk", "render_faces",
]

DOMAINS: tuple[str, ...] = ("lab", "wild")

#: Bumped whenever the default rendered pixels change, so cached data sets are regenerated. The opt-in features of
#: :data:`OPTIONAL_FEATURES` do not change the default pixels (photo faces carry
#: :data:`facekit.synth.photo.PHOTO_VERSION` as well).
GENERATOR_VERSION: int = 7

#: Faces whose pixels are computed at once inside a chunk. The chunk (about 1,800 faces at 48 px) fixes the random
#: streams; its pixels are worked through in slices this size, whose temporaries (a few MB each) stay in the CPU's
#: cache: about 1.2x the rate of one pass over the chunk, with the same bytes (every pixel op works face by face).
PIXEL_BATCH: int = 512


def _colors(ident: dict, nuis: dict, color: bool, domain: str) -> dict[str, torch.Tensor]:
    """Per-face RGB (n, 3) colors of skin, hair, lips, iris, background; gray when ``color`` is False."""
    hue = ident["hue"]
    skin = ident["skin"]
    skin_rgb = torch.stack([skin * (1.05 + 0.08 * hue), skin * (0.9 + 0.02 * hue), skin * (0.78 - 0.05 * hue)], 1)
    h = ident["hair"]
    hair_rgb = torch.stack([h * (1.1 + 0.3 * hue), h * (0.95 + 0.1 * hue), h * 0.8], 1)
    bg = nuis["bg"]
    bg_rgb = torch.stack([bg * (0.8 + 0.4 * hue), bg, bg * (1.2 - 0.4 * hue)], 1)
    cols = {"skin": skin_rgb, "hair": hair_rgb, "bg": bg_rgb,
            "lip": skin_rgb * torch.tensor([0.85, 0.55, 0.55]),
            "iris": torch.stack([ident["iris"] * 0.8, ident["iris"] * (0.8 + 0.4 * hue), ident["iris"]], 1),
            "sclera": torch.tensor([0.92, 0.9, 0.88]).expand(len(skin), 3),
            "dark": torch.tensor([0.06, 0.04, 0.04]).expand(len(skin), 3),
            "teeth": torch.tensor([0.95, 0.93, 0.85]).expand(len(skin), 3),
            "frame": torch.stack([0.1 + 0.2 * hue, 0.1 + 0.1 * hue, 0.1 + 0 * hue], 1)}
    tint = torch.stack([nuis["tint_r"], torch.ones_like(nuis["tint_r"]), nuis["tint_b"]], 1)
    lum = torch.tensor([0.299, 0.587, 0.114])
    out = {}
    for k, v in cols.items():
        v = v.clamp(0, 1) * tint if k != "bg" else v.clamp(0, 1)
        out[k] = (v if color else (v * lum).sum(1, keepdim=True)).clamp(0, 1)[:, :, None, None]
    return out


def render_chunk(ident: dict, au: torch.Tensor, nuis: dict, size: int, color: bool, domain: str,
                 noise_gen: torch.Generator, features=None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Render one batch of faces: float images (n, C, H, W) in 0-1, landmarks, and the geometry used."""
    features = _check_features(features)
    n = len(au)
    g = face_geometry(ident, au, features)
    # a photo face is moved from its neutral geometry (same identity, no AUs) to the expression's
    g0 = face_geometry(ident, torch.zeros_like(au), features) if "photo" in features else {}
    pose = {k: nuis[k] for k in ("roll", "yaw", "scale", "tx", "ty")}
    if "framing" in features:  # a face detector's crop is centred on the face, wherever it sits in its head
        pose["ty"] = pose["ty"] - pose["scale"] * (ident["face_cy"] - 0.06)
    g.update(pose)
    col = _colors(ident, nuis, color, domain)
    C = 3 if color else 1
    # sensor noise for the whole chunk in one draw, so the numbers do not depend on how the pixels are sliced
    noise = torch.randn((n, C, size, size), generator=noise_gen) if bool((nuis["noise"] > 0).any()) else None
    parts = []
    for start in range(0, n, PIXEL_BATCH):
        rows = slice(start, min(n, start + PIXEL_BATCH))
        take = lambda d: {k: (v[rows] if v.ndim and len(v) == n else v) for k, v in d.items()}  # noqa: E731
        parts.append(_render_pixels(take(ident), take(g), take(nuis), take(col), size, color, features,
                                    None if noise is None else noise[rows], take(g0)))
    img = parts[0] if len(parts) == 1 else torch.cat(parts)
    return img, landmarks_from_geometry(g, pose, size), g


# ---------------------------------------------------------------------------------------------------------------

def _check_args(n, domain, size, emotion, au):
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {', '.join(DOMAINS)}, got {domain!r}")
    if int(size) < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    if emotion is not None:
        emotion = torch.as_tensor(emotion, dtype=torch.long).reshape(-1)
        if len(emotion) == 1 and n != 1:
            emotion = emotion.expand(n)
        if len(emotion) != n or (len(emotion) and (emotion.min() < 0 or emotion.max() >= len(EMOTIONS))):
            raise ValueError(f"emotion must hold {n} labels in 0..{len(EMOTIONS) - 1} (FER order {EMOTIONS})")
    if au is not None:
        au = torch.as_tensor(au, dtype=torch.float32)
        if au.ndim == 1:
            au = au.expand(n, -1)
        if au.shape != (n, len(AUS)):
            raise ValueError(f"au must be ({n}, {len(AUS)}) intensities in AUS order {AUS}, got {tuple(au.shape)}")
        if len(au) and (au.min() < 0 or au.max() > 5):
            raise ValueError("au intensities must lie on the FACS 0-5 scale")
    return emotion, au


def render_faces(n: int, *, seed: int = 0, domain: str = "lab", size: int = 48, color: bool = False,
                 emotion=None, au=None, identity_seed=None, nuisance: bool = True, progress: bool = False,
                 labels=None, chunk: int | None = None, workers: int | None = None, features=None,
                 as_lab=()) -> FaceSet:
    """Render ``n`` faces; same arguments, same bytes (whatever ``workers`` is).

    Returns a :class:`~facekit.data.FaceSet`: ``images`` uint8 (n, H, W) gray or (n, 3, H, W) color; ``au`` float32
    (n, len(AUS)) intensities 0-5 (``aus`` = :data:`AUS`); ``emotion`` int64 (n,) the label a FER annotator gives
    (with label noise); ``clean_emotion`` the emotion the AUs were drawn for; ``landmarks`` float32
    (n, len(LANDMARK_NAMES), 2) (x, y) in output pixels (``meta["landmark_names"]``, :meth:`FaceSet.landmark`);
    ``meta`` the domain and seed; ``extra["geometry"]`` the per-face geometry the pixels were drawn from.

    ``emotion`` (int64 (n,)) fixes the true emotions the AUs are drawn for (else uniform); ``au`` (n, len(AUS))
    sets the intensities directly; ``identity_seed`` (int or (n,) ints) makes rows share an identity;
    ``nuisance=False`` renders a clean frontal face; ``labels`` fixes the *annotator* labels instead (the true
    emotion is then drawn from the label-noise model; used to hit FER2013's exact label counts).
    ``workers`` chunks are rendered at once in threads (default: torch's thread count, i.e. ``FACEKIT_THREADS`` or
    all cores): each chunk has its own seeded generators, so the bytes do not depend on it.
    ``features`` (default all of :data:`FEATURES`; :data:`OPTIONAL_FEATURES` on request) names the appearance
    features to render; the realism ablation switches them off one at a time (the random streams do not depend on
    it, so faces stay paired).
    ``as_lab`` (traits of :data:`WILD_FACTORS`, for ``domain="wild"``) draws those traits from lab's ranges with the
    same random numbers, so each face is its plain wild twin but for that trait.
    """
    emotion, au = _check_args(n, domain, size, emotion, au)
    features = _check_features(features)
    as_lab = check_as_lab(as_lab)
    chunk = chunk or max(64, (1 << 22) // (size * size * (3 if color else 1)))
    ids = None
    if identity_seed is not None:
        ids = torch.as_tensor(identity_seed, dtype=torch.long).reshape(-1)
        ids = ids.expand(n) if len(ids) == 1 else ids
    images, aus, noisy, clean, marks, geos = [], [], [], [], [], []
    bar = tqdm(total=n, desc=f"rendering {domain} faces", unit="face", disable=not progress or n < 2 * chunk)
    threads = adapt_threads()   # the chunks rendered side by side: one per core other processes leave free
    # One torch thread per op: the ops are small, and torch's thread pool thrashes badly on a busy 2-core machine
    # (20x slower). The cores are used by rendering whole chunks side by side in Python threads instead (torch
    # releases the GIL inside each op): 1.9x faster on 2 idle cores, and no spin-waiting on a busy one.
    torch.set_num_threads(1)
    try:
        parts = _render_chunks(n, seed, domain, size, color, emotion, au, ids, nuisance, labels, chunk, bar,
                               workers or threads, features, as_lab)
    finally:
        torch.set_num_threads(threads)
        bar.close()
    images, aus, noisy, clean, marks, geos = parts
    geometry = {k: torch.cat([gg[k] for gg in geos]) for k in geos[0]} if geos else {}
    empty_img = torch.zeros((0, 3, size, size) if color else (0, size, size), dtype=torch.uint8)
    return FaceSet(
        images=torch.cat(images) if images else empty_img,
        au=torch.cat(aus) if aus else torch.zeros(0, len(AUS)), aus=AUS,
        emotion=torch.cat(noisy) if noisy else torch.zeros(0, dtype=torch.long),
        clean_emotion=torch.cat(clean) if clean else torch.zeros(0, dtype=torch.long),
        landmarks=torch.cat(marks) if marks else torch.zeros(0, len(LANDMARK_NAMES), 2),
        source=domain, meta={"domain": domain, "seed": int(seed), "landmark_names": LANDMARK_NAMES},
        extra={"geometry": geometry})


def _render_chunks(n, seed, domain, size, color, emotion, au, ids, nuisance, labels, chunk, bar, workers=1,
                   features=None, as_lab=frozenset()):
    def render_one(ci_start):
        ci, start = ci_start
        m = min(chunk, n - start)
        sl = slice(start, start + m)
        g_id, g_ex, g_nu, g_no = (_generator(s, seed, domain, ci) for s in ("id", "expr", "nuis", "noise"))
        ident = draw_identity(m, g_id, domain, None if ids is None else ids[sl], features, as_lab)
        if labels is not None:
            lab = torch.as_tensor(labels, dtype=torch.long)[sl]
            cl = clean_given_labels(lab, g_ex)
        else:
            cl = emotion[sl] if emotion is not None else torch.randint(0, len(EMOTIONS), (m,), generator=g_ex)
            lab = noisy_labels(cl, g_ex)
        a = au[sl] if au is not None else sample_expressions(cl, g_ex)
        nu = draw_nuisance(m, g_nu, domain, nuisance, features, as_lab)
        img, lm, geo = render_chunk(ident, a, nu, size, color, domain, g_no, features)
        img = (img * 255).round().to(torch.uint8)
        bar.update(m)
        return (img if color else img[:, 0], a.float(), lab, cl, lm,
                dict(geo))

    starts = list(enumerate(range(0, n, chunk)))
    workers = max(1, min(int(workers), len(starts)))
    if workers == 1:
        results = [render_one(cs) for cs in starts]
    else:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(render_one, starts))
    images, aus, noisy, clean, marks, geos = (list(part) for part in zip(*results)) if results else ([],) * 6
    return images, aus, noisy, clean, marks, geos
