"""The Latent sliders' values: z dimensions set by hand on a fixed grid.

Every value a slider starts from (an image's z, a random z, a shared link) is snapped to the slider's grid
(``snap``), so a move right and a move left always come back to the same value and the same picture.
"""

from __future__ import annotations

import torch

from core.data import ImageSet
from core.explore import decode, mix, to_uint8
from core.features import View
from core.gallery import encoding

Z_LIMIT = 3.0  # sliders run from -Z_LIMIT to Z_LIMIT (units of the prior's standard deviation)
Z_STEP = 0.05
WEIGHT_STEP = 0.05  # the mix weight of two prototypes, in [0, 1]


def snap(value: float, step: float = Z_STEP, low: float = -Z_LIMIT, high: float = Z_LIMIT) -> float:
    """``value`` clamped to [low, high] and rounded to the nearest multiple of ``step`` (a value the slider can show
    and return to)."""
    return round(min(high, max(low, round(value / step) * step)), 6)


def snapped(values: torch.Tensor | list[float]) -> list[float]:
    """Each value of a z code snapped to the sliders' grid."""
    return [snap(float(v)) for v in (values.tolist() if isinstance(values, torch.Tensor) else values)]


def image_z(model, gallery: ImageSet, image: int) -> list[float]:
    """The posterior mean z of gallery image ``image`` (``core.gallery.encoding``), on the sliders' grid."""
    return snapped(encoding(model, gallery, image).z_mu[0])


def random_z(z_dim: int) -> list[float]:
    """A z from the prior, drawn with a generator of its own (the global one is shared by the server's sessions)."""
    g = torch.Generator()
    g.seed()
    return snapped(torch.randn(z_dim, generator=g))


S_MODES = ("The start image's s", "Class prototype", "Mix two classes")
LINK_PROBLEM = "The link's settings could not be read; starting from defaults."


def link(image: int, z_values: list[float], mode: str, a: int, b: int, weight: float) -> dict[str, str]:
    """The URL parameters that give these settings back (``from_link``): ?img=..&z=..&s=..&a=..&b=..&w=.."""
    return {"img": str(image), "z": ",".join(f"{v:.2f}" for v in z_values), "s": str(S_MODES.index(mode)),
            "a": str(a), "b": str(b), "w": f"{weight:.2f}"}


def from_link(query: dict[str, str], *, z_dim: int, images: int, classes: int) -> tuple[dict, str]:
    """The page's settings (session-state keys) a shared URL gives, each value clamped or snapped to what its
    widget can show; a value that is not a number drops the rest and gives ``LINK_PROBLEM`` as the second item."""
    state = {}
    try:
        if "img" in query:
            state["sl_img"] = min(max(int(query["img"]), 0), images - 1)
        if "z" in query:
            z = snapped([float(v) for v in query["z"].split(",")])
            if len(z) == z_dim:
                state.update({f"sl_z{i}": v for i, v in enumerate(z)})
        if "s" in query and int(query["s"]) in range(len(S_MODES)):
            state["sl_mode"] = S_MODES[int(query["s"])]
        for key, name in (("a", "sl_a"), ("b", "sl_b")):
            if key in query and int(query[key]) in range(classes):
                state[name] = int(query[key])
        if "w" in query:
            state["sl_w"] = snap(float(query["w"]), WEIGHT_STEP, 0.0, 1.0)
    except ValueError:
        return state, LINK_PROBLEM
    return state, ""


def slider_view(model, gallery, prototypes: torch.Tensor, z_values: list[float], mode: str, *, image: int, a: int, b: int,
                weight: float, names: list[str], progress=None):
    """Dec(z from the sliders, s): s of the start image, a class prototype, or a mix of two prototypes."""
    if mode == S_MODES[0]:
        s, label = encoding(model, gallery, image).s[0], f"s of image #{image}"
    elif mode == S_MODES[1]:
        s, label = prototypes[a], f"prototype of class {names[a]}"
    else:
        s, label = mix(prototypes[a], prototypes[b], weight), f"{1 - weight:.2f} × {names[a]} + {weight:.2f} × {names[b]}"
    z = torch.tensor(z_values, dtype=torch.float32)
    image_out = decode(model, z[None], s[None].float(), progress=progress)[0]
    return View(to_uint8(image_out), f"Dec(z from the sliders, {label})")
