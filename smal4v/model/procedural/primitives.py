"""Body parts as smooth implicit primitives: flattened tapered capsules ("round cones").

Each primitive joins points a and b with radii ra and rb, may be squashed by a factor ``flat``
along a direction e1 (perpendicular to its axis, chosen from a reference vector), and is owned
by one SMAL joint (the joint whose bone it covers). The same primitive list, in the same order,
is produced for every proportion sample; that is what gives the shape space its vertex
correspondence (see :func:`deform`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smal4v.model.procedural.skeleton import J


@dataclass
class Primitive:
    """One tapered capsule for N samples: a, b, ref (N, 3); ra, rb, flat (N,); blend in model units."""

    name: str
    owner: int
    a: np.ndarray
    b: np.ndarray
    ra: np.ndarray
    rb: np.ndarray
    flat: np.ndarray
    ref: np.ndarray
    blend: float

    def with_flat(self, flat: float, sample: int = 0) -> "Primitive":
        """Copy of one sample of this primitive with the flattening replaced."""
        one = slice(sample, sample + 1)
        return Primitive(self.name, self.owner, self.a[one], self.b[one], self.ra[one], self.rb[one],
                         np.full(1, float(flat)), self.ref[one], self.blend)

    def frame(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Axis length (N,) and orthonormal frame u (axis), e1 (flattened), e2, each (N, 3)."""
        ab = self.b - self.a
        length = np.linalg.norm(ab, axis=-1)
        u = ab / length[:, None]
        e1 = self.ref - np.sum(self.ref * u, axis=-1, keepdims=True) * u
        e1 = e1 / np.linalg.norm(e1, axis=-1, keepdims=True)
        e2 = np.cross(u, e1)
        return length, u, e1, e2


def _full(n: int, value: float | np.ndarray) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()


def build_primitives(joints: np.ndarray, marks: dict[str, np.ndarray], props: dict[str, np.ndarray],
                     parts: dict) -> list[Primitive]:
    """The ordered primitive list for N samples (joints (N, 35, 3) from build_skeleton)."""
    n = joints.shape[0]
    rmin = float(parts["min_radius"])
    Y = np.tile([0.0, 1.0, 0.0], (n, 1))
    X = np.tile([1.0, 0.0, 0.0], (n, 1))
    prims: list[Primitive] = []

    def add(name: str, owner: str, a, b, ra, rb, blend: float, flat=1.0, ref=Y) -> None:
        prims.append(Primitive(name, J[owner], a, b, np.maximum(_full(n, ra), rmin), np.maximum(_full(n, rb), rmin),
                               _full(n, flat), ref, float(blend)))

    D, W = props["body_depth"], props["body_width"]
    tr = parts["torso_radius"]
    tb = parts["torso_blend"]
    spine = ["root", "pelvis0", "spine", "spine0", "spine1", "spine2", "spine3"]
    for k in range(6):
        add(f"torso{k}", spine[k], joints[:, k], joints[:, k + 1], tr[k] * D / 2, tr[k + 1] * D / 2, tb, W / D)
    rump_end = joints[:, J["root"]] + (joints[:, J["Tail1"]] - joints[:, J["root"]]) * np.array([1.0, 0.0, 0.0])
    add("rump", "root", joints[:, J["root"]], rump_end, tr[0] * D / 2, parts["rump_radius"] * D / 2, tb, W / D)
    add("chest", "spine3", joints[:, J["spine3"]], marks["chest_front"], tr[6] * D / 2, parts["chest_radius"] * D / 2, tb, W / D)
    for side in ("L", "R"):
        for kind, girth_key, radii_key in (("Leg", "leg_girth_front", "front_leg_radius"),
                                           ("LegBack", "leg_girth_back", "back_leg_radius")):
            g = props[girth_key]
            r = parts[radii_key]
            chain = [f"{side}{kind}1", f"{side}{kind}2", f"{side}{kind}3", f"{side}Foot" + ("Back" if kind == "LegBack" else "")]
            for k in range(3):
                add(f"{chain[k]}_bone", chain[k], joints[:, J[chain[k]]], joints[:, J[chain[k + 1]]],
                    r[k] * g, r[k + 1] * g, parts["leg_blend"])
            foot = joints[:, J[chain[3]]]
            rp = np.maximum(r[3] * g, rmin)
            add(f"{chain[3]}_paw", chain[3], foot, foot + (parts["paw_length"] * rp)[:, None] * X, rp, rp, parts["leg_blend"])
    ng = props["neck_girth"]
    add("neck", "Neck", joints[:, J["Neck"]], joints[:, J["Head"]], ng, parts["neck_end_radius"] * ng, parts["neck_blend"])
    hs = props["head_size"]
    sd, up = marks["snout_dir"], marks["snout_up"]
    cr = parts["cranium_radius"] * hs
    add("cranium", "Head", joints[:, J["Head"]] - 0.2 * hs[:, None] * sd, marks["cranium_front"], cr, cr,
        parts["head_blend"], parts["cranium_flat"])
    sr, jr = parts["snout_radius"], parts["jaw_radius"]
    snout_tip = marks["nose_tip"] - (sr[1] * hs)[:, None] * sd
    add("snout", "Head", marks["cranium_front"] + (0.05 * hs)[:, None] * up, snout_tip, sr[0] * hs, sr[1] * hs, parts["head_blend"])
    jaw_tip = marks["chin_tip"] + (jr[1] * hs)[:, None] * up
    add("jaw", "Mouth", joints[:, J["Mouth"]], jaw_tip, jr[0] * hs, jr[1] * hs, parts["head_blend"])
    es = props["ear_size"]
    er = parts["ear_radius"]
    ear_flat = np.maximum(parts["ear_flat"], parts["ear_min_thickness"] / np.maximum(er[0] * es, rmin))
    for side, tip in (("L", marks["left_ear_tip"]), ("R", marks["right_ear_tip"])):
        base = joints[:, J[f"{side}Ear"]]
        add(f"{side}Ear", f"{side}Ear", base, tip - (er[1] * es)[:, None] * (tip - base) / np.linalg.norm(tip - base, axis=-1, keepdims=True),
            er[0] * es, er[1] * es, parts["ear_blend"], ear_flat, X)
    tg = props["tail_girth"]
    tails = [joints[:, J[f"Tail{k}"]] for k in range(1, 8)] + [marks["tail_tip"]]
    for k in range(7):
        t0, t1 = k / 7.0, (k + 1) / 7.0
        rt = parts["tail_radius_tip"]
        add(f"Tail{k + 1}_bone", f"Tail{k + 1}", tails[k], tails[k + 1], tg * (1 - t0 * (1 - rt)), tg * (1 - t1 * (1 - rt)),
            parts["tail_blend"])
    return prims


def local_coords(prim: Primitive, points: np.ndarray, sample: int = 0) -> np.ndarray:
    """Points (M, 3) in primitive ``prim``'s frame of ``sample``: (axial, along e1, along e2)."""
    _, u, e1, e2 = prim.frame()
    d = points - prim.a[sample]
    return np.stack([d @ u[sample], d @ e1[sample], d @ e2[sample]], axis=-1)


def primitive_sdf(prim: Primitive, points: np.ndarray, sample: int = 0) -> np.ndarray:
    """Approximate signed distance (M,) from points (M, 3) to the flattened round cone (exact when unflattened)."""
    length = float(np.linalg.norm(prim.b[sample] - prim.a[sample]))
    loc = local_coords(prim, points, sample)
    s = float(prim.flat[sample])
    rho = np.sqrt((loc[:, 1] / s) ** 2 + loc[:, 2] ** 2)
    r1, r2 = float(prim.ra[sample]), float(prim.rb[sample])
    rr = float(np.clip(r1 - r2, -0.95 * length, 0.95 * length))
    r2 = r1 - rr
    l2 = length * length
    a2 = l2 - rr * rr
    y = loc[:, 0] * length
    z = y - l2
    x2 = (rho * l2) ** 2
    y2, z2 = y * y * l2, z * z * l2
    k = np.sign(rr) * rr * rr * x2
    d_mid = (np.sqrt(x2 * a2 / l2) + y * rr) / l2 - r1
    d_b = np.sqrt(x2 + z2) / l2 - r2
    d_a = np.sqrt(x2 + y2) / l2 - r1
    d = np.where(np.sign(z) * a2 * z2 > k, d_b, np.where(np.sign(y) * a2 * y2 < k, d_a, d_mid))
    if s == 1.0:
        return d
    # Flattened: both the scaled distance and the distance to the unflattened (containing) cone
    # are lower bounds of the true distance; their maximum is the tighter estimate.
    return np.maximum(d * min(s, 1.0), primitive_sdf(prim.with_flat(1.0, sample), points))


def smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum of two distance fields with blend width k."""
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k * 0.25


def union_sdf(prims: list[Primitive], points: np.ndarray, sample: int = 0) -> np.ndarray:
    """Smooth union of all primitives, evaluated at points (M, 3)."""
    d = primitive_sdf(prims[0], points, sample)
    for prim in prims[1:]:
        d = smooth_min(d, primitive_sdf(prim, points, sample), prim.blend)
    return d


def deform(template: list[Primitive], samples: list[Primitive], vertices: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Vertices (V, 3) of the template carried to every sample: (N, V, 3).

    Each vertex is written in each owning primitive's template frame (axial position, offsets
    along e1/e2), re-placed in the sample primitive's frame (axial position scaled by the
    length change, beyond the caps by the cap radius change; offsets by the radius change, e1
    also by the flattening change) and the results are blended with the primitive ``weights``
    (V, P). The template itself maps to itself exactly. Works in a (vertex, sample) layout so
    that the per-primitive scatter-add touches contiguous rows.
    """
    n = samples[0].a.shape[0]
    out = np.zeros((vertices.shape[0], n, 3))
    for p, (t, s) in enumerate(zip(template, samples)):
        idx = np.nonzero(weights[:, p])[0]
        if idx.size == 0:
            continue
        loc = local_coords(t, vertices[idx])
        l0 = float(t.frame()[0][0])
        l1, u1, e1, e2 = s.frame()
        ra0, rb0, f0 = float(t.ra[0]), float(t.rb[0]), float(t.flat[0])
        ax = loc[:, 0]
        frac = np.clip(ax / l0, 0.0, 1.0)
        r0 = ra0 + frac * (rb0 - ra0)
        scale = (s.ra[None, :] + frac[:, None] * (s.rb - s.ra)[None, :]) / r0[:, None]  # (m, N)
        ax1 = ax[:, None] * (l1 / l0)[None, :]
        below, above = ax < 0, ax > l0
        ax1[below] = ax[below, None] * (s.ra / ra0)[None, :]
        ax1[above] = l1[None, :] + (ax[above] - l0)[:, None] * (s.rb / rb0)[None, :]
        w = weights[idx, p][:, None]
        pos = np.multiply((ax1 * w)[..., None], u1[None])
        pos += ((loc[:, 1:2] * w) * scale * (s.flat / f0)[None, :])[..., None] * e1[None]
        pos += ((loc[:, 2:3] * w) * scale)[..., None] * e2[None]
        pos += w[..., None] * s.a[None]
        out[idx] += pos
    return out.transpose(1, 0, 2)
