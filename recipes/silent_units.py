"""Short runs that show when and why populations fall silent (docs/silent-units.md).

Each probe trains one network from the zoo's recipe with one change and counts,
every `--every` optimizer steps, the channels of each population that respond
to a fixed batch of 256 test images with non-zero variance (`ei_zoo.network.responses`,
the definition the analysis uses). A population that has lost all its channels
gets no gradient back through its ReLU.

    python recipes/silent_units.py               # the doc's probes, 200 steps each
    python recipes/silent_units.py --epochs 3 --every 390 --steps 0 \\
        --probe silence_penalty=0 --probe baseline   # 3-epoch check, recipe 1 against 2
    python recipes/silent_units.py --probe learning_rate=1e-3 --probe adam_epsilon=1e-3

A probe is `baseline` (the zoo's recipe), `FIELD=VALUE` for a `NetworkConfig`
or `TrainingConfig` field, `adam_epsilon=VALUE`, or `signed_learning_rate=VALUE`
(sign-constrained magnitudes learn at that multiple of the learning rate). `variant=NAME` picks
another network (default `standard`); join changes with `,`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import keras

from ei_zoo import data
from ei_zoo.errors import USER_ERRORS
from ei_zoo.network.config import NetworkConfig
from ei_zoo.network.models import activation_model, resolve_config
from ei_zoo.network.responses import population_moments
from ei_zoo.training.fit import first_images, prepare_model, training_batches
from ei_zoo.training.settings import TrainingConfig


class SignedLearningRate(keras.optimizers.AdamW):
    """AdamW whose steps on sign-constrained (NonNeg) magnitudes are `scale` x smaller."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def build(self, variables):
        super().build(variables)
        self._signed = {self._var_key(v) for v in variables
                        if isinstance(v.constraint, keras.constraints.NonNeg)}

    def update_step(self, gradient, variable, learning_rate):
        if self._var_key(variable) in self._signed:
            learning_rate = learning_rate * self.scale
        super().update_step(gradient, variable, learning_rate)


class ActiveChannels(keras.callbacks.Callback):
    """Every `every` steps, the active channels of each population; stops at `steps`."""

    def __init__(self, images, every, steps):
        super().__init__()
        self.images, self.every, self.steps = images, every, steps
        self.step, self.rows = 0, []

    def on_train_begin(self, logs=None):
        self.activations = activation_model(self.model)
        self.record(None)

    def record(self, loss):
        moments = population_moments(self.activations, [self.images])
        row = {"step": self.step, "loss": loss}
        row.update({key: int((~m.silent).sum()) for key, m in moments.items()})
        self.rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            self.record(round(float(logs["loss"]), 4))
        if self.steps and self.step >= self.steps:
            self.model.stop_training = True


OPTIMIZER_PROBES = ("adam_epsilon", "signed_learning_rate")


def parse_probe(text: str) -> dict:
    changes = {}
    for part in filter(None, text.split(",")):
        if part == "baseline":
            continue
        name, _, value = part.partition("=")
        try:
            changes[name] = value if name == "variant" else json.loads(value)
        except ValueError:
            raise ValueError(f"probe {text!r}: {part!r} is not FIELD=VALUE with a JSON "
                             "value (e.g. learning_rate=1e-3)") from None
    return changes


def probe_settings(text: str, args):
    """A probe's (network config, training config, Adam epsilon, signed learning rate),
    checked: every probe is read before the first one trains."""
    changes = parse_probe(text)
    variant = changes.pop("variant", "standard")
    network_fields = {f.name for f in dataclasses.fields(NetworkConfig)}
    training_fields = {f.name for f in dataclasses.fields(TrainingConfig)}
    unknown = sorted(set(changes) - network_fields - training_fields - set(OPTIMIZER_PROBES))
    if unknown:
        raise ValueError(f"probe {text!r}: unknown {unknown}; change a NetworkConfig or "
                         f"TrainingConfig field, {' or '.join(OPTIMIZER_PROBES)}, or variant")
    network = resolve_config(variant, **{k: v for k, v in changes.items() if k in network_fields})
    config = TrainingConfig(epochs=args.epochs, seed=args.seed, **{
        k: v for k, v in changes.items() if k in training_fields})
    return network, config, changes.get("adam_epsilon"), changes.get("signed_learning_rate")


def run_probe(settings, args, balance, images) -> dict:
    network, config, epsilon, signed = settings
    model = prepare_model(network, config, balance)
    if epsilon is not None or signed is not None:
        base = model.optimizer
        optimizer = (SignedLearningRate(signed, learning_rate=base._learning_rate,
                                        weight_decay=config.weight_decay)
                     if signed is not None else base)
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
        if epsilon is not None:
            optimizer.epsilon = epsilon
        model.compile(optimizer=optimizer, loss=model.loss, metrics=["accuracy"])
    counter = ActiveChannels(images, args.every, args.steps)
    start = time.perf_counter()
    model.fit(training_batches(config, args.data_dir), epochs=config.epochs,
              callbacks=[counter], shuffle=False, verbose=0)
    accuracy = model.evaluate(data.test_dataset(data_dir=args.data_dir), verbose=0,
                              return_dict=True)["accuracy"]
    return {"steps": counter.step, "test_accuracy": round(accuracy, 4),
            "seconds": round(time.perf_counter() - start), "active": counter.rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", action="append", default=None,
                        help="a recipe change to try (repeatable); see the module docstring")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=200, help="stop after N steps (0: never)")
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    recipe_1 = ["", "weight_decay=0", "learning_rate=1e-3", "gate_drive=2.0",
                "resting_drive=1.0", "adam_epsilon=1e-4", "adam_epsilon=1e-3",
                "signed_learning_rate=0.1", "signed_weight_scale=0.3",
                "signed_weight_scale=1.0"]
    probes = args.probe or [f"silence_penalty=0,{change}" for change in recipe_1] + ["baseline"]
    try:
        settings = [(probe, probe_settings(probe, args)) for probe in probes]
        config = TrainingConfig(seed=args.seed)
        balance = first_images(training_batches(config, args.data_dir),
                               config.balance_images)
        images = first_images(data.test_dataset(data_dir=args.data_dir), 256)
    except USER_ERRORS as error:
        print(f"silent_units.py: error: {error}", file=sys.stderr)
        return 2
    for probe, probe_setting in settings:
        print(json.dumps({"probe": probe, **run_probe(probe_setting, args, balance, images)}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
