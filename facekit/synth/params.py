"""Step 1 of the renderer: the random parameters of a face, drawn from per-chunk seeded streams.

Each face draws a vector of uniforms per stream (identity, nuisance) and maps it through the ``(lo, hi)`` ranges of
:data:`_IDENTITY` and :data:`_NUISANCE`, lab's or wild's; the same seed gives the same numbers, whatever is rendered
from them. :data:`FEATURES` names the appearance features the later steps switch on.
"""
from __future__ import annotations

import hashlib

import torch

from facekit.synth.photo import photo_identity

#: The appearance features, each modelled on how real faces look at 48x48. All are on by default;
#: ``render_faces(..., features=...)`` switches them off one at a time for the realism ablation
#: (:mod:`facekit.emotion.realism`). What each does:
#:
#: * ``framing``: the facial thirds of a real face (hairline-brow, brow-nose base, nose base-chin about equal;
#:   without it the lower face is 1.6x too long) and a FER2013-like crop in which forehead to chin fills the frame
#:   (scale about 1.56: the mean hairline at the top edge, the mean chin at the bottom edge, as a face detector's
#:   box), centred on the face;
#: * ``surface``: a face surface (an upright cylinder for the head, brow ridge, eye sockets, nose ridge and tip,
#:   cheeks, lips, chin, AU6 cheek lift, AU17 chin boss) shaded (Lambert) from the scene's light, which comes from
#:   above;
#: * ``eyes``: eye sockets in shadow, whites in the skin's shade, larger dark irises and a thick upper lid line;
#: * ``brows``: brows with the thickness and darkness of real brows;
#: * ``lips``: lips of a real face's height (about a tenth of the face, 3-4 px at 48 px; half that without it) that
#:   part wider with AU25, showing the teeth;
#: * ``soft``: feature edges soft over two texels (a real 48 px face has no one-pixel-sharp edges).
FEATURES: tuple[str, ...] = ("framing", "surface", "eyes", "brows", "lips", "soft")

#: Features that are off unless asked for (``render_faces(..., features=FEATURES + ("photo",))``):
#:
#: * ``photo``: skin, eyes, brows, nose and hair from a real, expressionless face photograph, moved by the AUs and
#:   marked with their wrinkles and an open mouth (:mod:`facekit.synth.photo`). The realism report measures it; it is
#:   not the default because the real-FER2013 judge does not recognise these faces better than the drawn ones
#:   (data/README.md, "Realism"), so it would not pay for retraining every checkpoint on it.
OPTIONAL_FEATURES: tuple[str, ...] = ("photo",)

# ---------------------------------------------------------------------------------------------------------------
# Random parameters. Each face draws a vector of uniforms per stream and maps it through these (lo, hi) ranges.

_IDENTITY = {  # name: (lab lo, lab hi, wild lo, wild hi)
    "face_w": (0.56, 0.70, 0.54, 0.72), "face_h": (0.80, 0.92, 0.78, 0.94), "jaw": (0.05, 0.40, 0.0, 0.45),
    "face_cy": (0.02, 0.10, 0.0, 0.12),
    "eye_dx": (0.22, 0.30, 0.21, 0.31), "eye_w": (0.085, 0.12, 0.08, 0.125), "eye_h": (0.035, 0.062, 0.03, 0.065),
    "eye_y": (-0.16, -0.08, -0.17, -0.07), "iris": (0.05, 0.45, 0.05, 0.6), "gaze": (-0.3, 0.3, -0.4, 0.4),
    "brow_gap": (0.07, 0.14, 0.06, 0.15), "brow_y": (0.11, 0.17, 0.1, 0.19), "brow_len": (0.17, 0.25, 0.16, 0.26),
    "brow_th": (0.018, 0.05, 0.014, 0.055), "brow_dark": (0.55, 0.95, 0.45, 0.95), "brow_arch": (0.0, 0.045, -0.01, 0.05),
    "brow_slant": (-0.025, 0.025, -0.035, 0.035),
    "nose_y": (0.12, 0.22, 0.11, 0.23), "nose_w": (0.07, 0.12, 0.065, 0.13),
    "mouth_y": (0.40, 0.50, 0.39, 0.52), "mouth_w": (0.14, 0.23, 0.13, 0.24), "lip_up": (0.016, 0.04, 0.014, 0.042),
    "lip_lo": (0.022, 0.05, 0.02, 0.055), "mouth_curve": (-0.015, 0.015, -0.02, 0.02),
    "lip_dark": (0.15, 0.45, 0.1, 0.5), "age": (0.0, 1.0, 0.0, 1.0),
    "skin": (0.45, 0.88, 0.25, 0.9), "hair": (0.05, 0.7, 0.05, 0.9), "hairline": (0.45, 0.72, 0.4, 0.75),
    "fringe": (0.0, 1.0, 0.0, 1.0), "side_hair": (0.0, 1.0, 0.0, 1.0), "long_hair": (0.0, 1.0, 0.0, 1.0),
    "glasses": (0.0, 1.0, 0.0, 1.0), "beard": (0.0, 1.0, 0.0, 1.0), "hue": (0.0, 1.0, 0.0, 1.0),
    "cheek": (0.0, 0.08, 0.0, 0.1), "chin_h": (0.62, 0.72, 0.6, 0.74),
}
_P_GLASSES = {"lab": 0.12, "wild": 0.25}
_P_BEARD = {"lab": 0.10, "wild": 0.2}
_P_LONG = {"lab": 0.35, "wild": 0.45}

_NUISANCE = {  # name: (lab lo, lab hi, wild lo, wild hi)
    "roll": (-0.2, 0.2, -0.45, 0.45), "yaw": (-0.22, 0.22, -0.5, 0.5), "scale": (1.22, 1.42, 1.0, 1.55),
    "tx": (-0.06, 0.06, -0.15, 0.15), "ty": (-0.14, -0.04, -0.22, 0.04),
    "light_dir": (3.34, 6.08, 2.9, 6.52), "light": (0.0, 0.45, 0.25, 0.85), "contrast": (0.8, 1.15, 0.55, 1.5),
    "bright": (-0.1, 0.1, -0.25, 0.2), "gamma": (0.85, 1.15, 0.6, 1.6), "bg": (0.05, 0.95, 0.0, 1.0),
    "bg_grad": (-0.25, 0.25, -0.4, 0.4), "clutter": (0.0, 0.2, 0.1, 0.6), "blur": (0.0, 1.0, 0.0, 1.0),
    "noise": (0.0, 0.025, 0.01, 0.08), "occ": (0.0, 1.0, 0.0, 1.0), "occ_kind": (0.0, 1.0, 0.0, 1.0),
    "occ_x": (-0.6, 0.6, -0.7, 0.7), "occ_y": (-0.2, 0.8, -0.5, 0.9), "occ_size": (0.25, 0.45, 0.3, 0.6),
    "occ_angle": (-1.0, 1.0, -1.5, 1.5), "tint_r": (0.9, 1.1, 0.75, 1.25), "tint_b": (0.9, 1.1, 0.75, 1.25),
    "fer_scale": (1.5, 1.64, 1.3, 1.7), "fer_ty": (-0.03, 0.03, -0.08, 0.06),
}
# light_dir is the image direction the light comes *towards* (y down): pi..2pi = light from above, as scene light
# is (any direction would light a third of the faces from below). wild allows some side light past level.
_P_OCCLUDED = {"lab": 0.07, "wild": 0.3}
_P_BLUR = {"lab": 0.2, "wild": 0.5}

#: The traits that separate the ``wild`` domain from ``lab``, each as the random parameters that make it. Rendering
#: wild faces with one trait drawn from lab's ranges (``render_faces(..., as_lab=("light",))``) keeps every random
#: draw (the same uniforms are mapped through lab's range instead), so the faces stay paired with the plain wild ones
#: and the difference is that trait alone: the FAU wild-gap attribution (:func:`facekit.fau.robustness.wild_gap`).
WILD_FACTORS: dict[str, tuple[str, ...]] = {
    "pose": ("roll", "yaw", "scale", "tx", "ty", "fer_scale", "fer_ty"),
    "light": ("light_dir", "light"),
    "photometric": ("contrast", "bright", "gamma", "tint_r", "tint_b"),
    "background": ("bg", "bg_grad", "clutter"),
    "blur": ("blur",),
    "noise": ("noise",),
    "occlusion": ("occ", "occ_kind", "occ_x", "occ_y", "occ_size", "occ_angle"),
    "identity": tuple(_IDENTITY),
}


def _stream_seed(*parts) -> int:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 62) - 1)


def _generator(*parts) -> torch.Generator:
    return torch.Generator().manual_seed(_stream_seed(*parts))


def _draw(table: dict, u: torch.Tensor, domain: str, as_lab: frozenset = frozenset()) -> dict[str, torch.Tensor]:
    def off(k):
        return 0 if domain == "lab" or k in as_lab else 2

    return {k: lo_hi[off(k)] + (lo_hi[off(k) + 1] - lo_hi[off(k)]) * u[:, i]
            for i, (k, lo_hi) in enumerate(table.items())}


def _dom(key: str, domain: str, as_lab: frozenset) -> str:
    return "lab" if key in as_lab else domain


def check_as_lab(as_lab) -> frozenset:
    """Names in ``as_lab`` (traits of :data:`WILD_FACTORS` or single parameters) -> the set of parameter names."""
    names: set[str] = set()
    for name in as_lab or ():
        if name in WILD_FACTORS:
            names.update(WILD_FACTORS[name])
        elif name in _IDENTITY or name in _NUISANCE:
            names.add(name)
        else:
            raise ValueError(f"as_lab: unknown trait or parameter {name!r}; traits: {', '.join(WILD_FACTORS)} "
                             "(or a single parameter of facekit.synth.render._IDENTITY / _NUISANCE)")
    return frozenset(names)


def _check_features(features) -> frozenset:
    chosen = frozenset(FEATURES if features is None else features)
    unknown = sorted(chosen - set(FEATURES) - set(OPTIONAL_FEATURES))
    if unknown:
        raise ValueError(f"Unknown generator feature(s) {unknown}; known: {', '.join(FEATURES + OPTIONAL_FEATURES)}")
    return chosen


def draw_identity(n: int, gen: torch.Generator | None = None, domain: str = "lab",
                  identity_seed=None, features=None, as_lab=()) -> dict[str, torch.Tensor]:
    """Per-face identity parameters (face shape, features, skin, hair, glasses, beard, age lines).

    ``identity_seed`` (int or int tensor (n,)) gives the same identity for the same seed; otherwise ``gen`` draws.
    ``features`` (default :data:`FEATURES`): without ``"framing"`` the lower face is as long as the upper
    (``face_h``), 1.6x a real face's.
    ``as_lab`` (see :data:`WILD_FACTORS`) draws those parameters from lab's ranges with the same random numbers.
    """
    features = _check_features(features)
    as_lab = check_as_lab(as_lab)
    k = len(_IDENTITY)
    if identity_seed is None:
        u = torch.rand(n, k, generator=gen)
    else:
        ids = torch.as_tensor(identity_seed, dtype=torch.long).reshape(-1).expand(n) if torch.as_tensor(
            identity_seed).numel() == 1 else torch.as_tensor(identity_seed, dtype=torch.long)
        if len(ids) != n:
            raise ValueError(f"identity_seed has {len(ids)} values for {n} faces; pass one int or one per face")
        u = torch.empty(n, k)
        for s in torch.unique(ids).tolist():
            u[ids == s] = torch.rand(k, generator=_generator("identity", domain, int(s)))
    p = _draw(_IDENTITY, u, domain, as_lab)
    p["glasses"] = (p["glasses"] < _P_GLASSES[_dom("glasses", domain, as_lab)]).float()
    p["beard"] = (p["beard"] < _P_BEARD[_dom("beard", domain, as_lab)]).float() * (0.4 + 0.6 * p["hue"])
    p["long_hair"] = (p["long_hair"] < _P_LONG[_dom("long_hair", domain, as_lab)]).float()
    p["fringe"] = (p["fringe"] < 0.3).float() * p["side_hair"]
    p["lower_h"] = p["face_h"].clone()
    if "framing" in features:
        # facial thirds: chin about one brow-to-nose-base distance below the nose base, the mouth a third of the
        # way down that lower third, the hairline a third above the brows
        p["lower_h"] = p["chin_h"]
        p["mouth_y"] = torch.maximum(p["mouth_y"] - 0.05, p["nose_y"] + 0.16)
        p["hairline"] = (p["hairline"] * 1.2).clamp(max=0.9)
    if "photo" in features:
        photo_identity(p)
    return p


def draw_nuisance(n: int, gen: torch.Generator, domain: str = "lab", enabled: bool = True,
                  features=None, as_lab=()) -> dict[str, torch.Tensor]:
    """Per-face pose, lighting, background, blur, noise and occlusion; ``enabled=False`` gives a clean frontal face.

    With ``"framing"`` in ``features`` (the default) the crop is FER2013's: forehead to chin fills the frame.
    ``as_lab`` (see :data:`WILD_FACTORS`) draws those parameters from lab's ranges with the same random numbers.
    """
    features = _check_features(features)
    as_lab = check_as_lab(as_lab)
    u = torch.rand(n, len(_NUISANCE), generator=gen)
    p = _draw(_NUISANCE, u, domain, as_lab)
    if "framing" in features:
        p["scale"] = p["fer_scale"]
        p["ty"] = -0.1 * p["scale"] + p["fer_ty"]
    p["clutter_field"] = torch.rand(n, 3, 6, 6, generator=gen)
    p["noise_field_seed"] = torch.randint(0, 2**31 - 1, (1,), generator=gen)
    p["occ"] = (p["occ"] < _P_OCCLUDED[_dom("occ", domain, as_lab)]).float()
    p["blur"] = (p["blur"] < _P_BLUR[_dom("blur", domain, as_lab)]).float() * p["blur"]
    if not enabled:
        frame = {"scale": 1.56, "ty": -0.15} if "framing" in features else {"scale": 1.1, "ty": -0.06}
        for key, value in {"roll": 0.0, "yaw": 0.0, "tx": 0.0, **frame, "light": 0.0,
                           "contrast": 1.0, "bright": 0.0, "gamma": 1.0, "bg": 0.5, "bg_grad": 0.0, "clutter": 0.0,
                           "blur": 0.0, "noise": 0.0, "occ": 0.0, "tint_r": 1.0, "tint_b": 1.0}.items():
            p[key] = torch.full((n,), value)
    return p
