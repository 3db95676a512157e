"""The paper's zoo: the 17 networks its claims are judged on, and how each is trained.

The 9 ratio variants at seed 0 (`ratio_1_4` is `standard`) and `standard`, `inh_pn`
and `no_dale` at seeds 0, 1 and 2, each trained by the recipe for `ZOO_EPOCHS` epochs
on the whole training split and measured on the whole test split.

    paper_zoo()           # [("standard-s0", "standard", 0), ...]
    departure(metadata)   # None for a network of the paper's zoo, else why it is not
"""

from __future__ import annotations

import dataclasses

from ei_zoo.hub.bundle import model_id
from ei_zoo.network.registry import RATIOS, ratio_name
from ei_zoo.training.settings import ZOO_EPOCHS, TrainingConfig

PRINCIPAL_VARIANTS = ("standard", "inh_pn", "no_dale")
SEEDS = (0, 1, 2)


def paper_zoo() -> list[tuple[str, str, int]]:
    """(model id, variant, seed) of every network the paper needs, in training order."""
    plan = [(variant, 0) for variant in PRINCIPAL_VARIANTS]
    plan += [(ratio_name(r), 0) for r in RATIOS if ratio_name(r) != "ratio_1_4"]
    plan += [(variant, seed) for seed in SEEDS[1:] for variant in PRINCIPAL_VARIANTS]
    return [(model_id(variant, seed), variant, seed) for variant, seed in plan]


def paper_training(seed: int) -> TrainingConfig:
    """How the paper's zoo trains its network of `seed`."""
    return TrainingConfig(epochs=ZOO_EPOCHS, seed=seed)


def departure(metadata: dict) -> str | None:
    """None where an export is a network of the paper's zoo; else why it is not: its id
    is not in `paper_zoo()`, or the training its metadata records is not
    `paper_training` (an export that records none, made by hand, is taken as given)."""
    identifier = metadata.get("id")
    seeds = {name: seed for name, _, seed in paper_zoo()}
    if identifier not in seeds:
        return "not a network of the paper's zoo"
    if "training" not in metadata:
        return None
    try:
        trained = TrainingConfig.from_dict(metadata["training"])
    except (ValueError, TypeError):
        return "its training settings cannot be read"
    expected = paper_training(seeds[identifier])
    changed = [f"{field.name} {getattr(trained, field.name)}"
               for field in dataclasses.fields(TrainingConfig)
               if getattr(trained, field.name) != getattr(expected, field.name)]
    return f"trained with other settings ({', '.join(changed)})" if changed else None
