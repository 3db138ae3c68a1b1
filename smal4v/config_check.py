"""Check every config subtree that the schema leaves open against the settings it maps to.

``config/schema.yaml`` rejects unknown keys wherever it lists the keys (``additionalProperties:
false``); the network, training, segmentation and demo-generator subtrees are free mappings that
the stages turn into dataclasses (:func:`smal4v.settings.build_settings`, which rejects unknown
keys). A stage only builds the subtrees it uses, so a typo in an unused one (``silhouettes.osvos``
under ``method: flow``) or in a late stage would surface late or never; the workflow therefore
builds all of them when it starts (``onstart`` in the Snakefile) and stops with the first error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def _checks() -> dict[tuple[str, ...], Callable[[Any, str], Any]]:
    """Config path -> builder (imported here: they pull in torch, which the DAG does not need)."""
    from smal4v.data.generic_images import GenericImageConfig
    from smal4v.data.synthetic import SynthConfig
    from smal4v.segment.combine import FusionParams
    from smal4v.segment.flow import FlowParams
    from smal4v.segment.osvos import AugmentParams, OsvosParams, ParentParams
    from smal4v.segment.propagate import PropagateParams
    from smal4v.settings import build_settings
    from smal4v.train.c2f_config import C2FConfig
    from smal4v.train.config import (DetectorAdaptationConfig, KeypointFitConfig, NetConfig, OnlineTrainConfig,
                                     RefineConfig, SingleFrameTrainConfig, split_parent_config)

    def dataclass_of(cls: type) -> Callable[[Any, str], Any]:
        return lambda value, where: build_settings(cls, value, f"config {where}")

    def with_augment(cls: type) -> Callable[[Any, str], Any]:
        """OSVOS settings keep ``augment`` as a plain mapping: check it as AugmentParams too."""
        return lambda value, where: build_settings(AugmentParams, build_settings(cls, value, f"config {where}").augment,
                                                   f"config {where}.augment")

    return {
        ("demo", "generic"): lambda value, where: SynthConfig.from_dict(value, f"config {where}"),
        ("demo", "dataset"): lambda value, where: SynthConfig.from_dict(value, f"config {where}"),
        ("silhouettes", "flow"): dataclass_of(FlowParams),
        ("silhouettes", "osvos"): with_augment(OsvosParams),
        ("silhouettes", "fusion"): dataclass_of(FusionParams),
        ("silhouettes", "propagate"): dataclass_of(PropagateParams),
        ("osvos_parent",): with_augment(ParentParams),
        ("network",): lambda value, where: NetConfig.from_dict(value, where),
        ("generic_images",): dataclass_of(GenericImageConfig),
        ("base",): lambda value, where: SingleFrameTrainConfig.from_dict(value, where),
        ("parent",): lambda value, where: SingleFrameTrainConfig.from_dict(split_parent_config(dict(value))[0], where),
        ("keypoint_fit",): lambda value, where: KeypointFitConfig.from_dict(value, where),
        ("detector_adaptation",): lambda value, where: DetectorAdaptationConfig.from_dict(value, where),
        ("online",): lambda value, where: OnlineTrainConfig.from_dict(value, where),
        ("online_single",): lambda value, where: OnlineTrainConfig.from_dict(value, where),
        ("refine",): lambda value, where: RefineConfig.from_dict(value, where),
        ("c2f",): lambda value, where: C2FConfig.from_dict(value, where),
    }


def check_settings(config: Mapping[str, Any]) -> None:
    """Build the settings of every free config subtree present in ``config``; raise ValueError
    naming the subtree and the key (``config online: unknown keys ['epoch']; known: ...``)."""
    for path, build in _checks().items():
        value: Any = config
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is not None:
            build(value, ".".join(path))
