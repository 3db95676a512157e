import numpy as np
import pytest

from ei_zoo import data
from ei_zoo.training import TrainingConfig, first_images, prepare_model


def test_one_epoch_on_real_images_lowers_the_loss(cifar_dir):
    """One epoch on 1,024 real CIFAR-10 images lowers the test-set loss."""
    config = TrainingConfig(epochs=1, limit=1024, batch_size=64)
    train = data.train_dataset(config.batch_size, cifar_dir, config.limit, config.seed)
    held_out = data.test_dataset(256, cifar_dir, limit=512)
    model = prepare_model("standard", config, first_images(train, 256))
    before = model.evaluate(held_out, return_dict=True, verbose=0)["loss"]
    history = model.fit(train, epochs=1, shuffle=False, verbose=0)
    after = model.evaluate(held_out, return_dict=True, verbose=0)["loss"]
    assert np.isfinite(history.history["loss"][0])
    assert after < before - 0.02, (before, after)


def test_balanced_model_starts_at_chance_loss(cifar_dir):
    """Balanced biases give every class the same mean logit: loss starts near ln 10."""
    config = TrainingConfig(epochs=1, limit=512, precision="float32")
    train = data.train_dataset(128, cifar_dir, 512)
    for variant in ("standard", "inh_pn"):
        model = prepare_model(variant, config, first_images(train, 256))
        loss = model.evaluate(train, return_dict=True, verbose=0)["loss"]
        assert abs(loss - np.log(10)) < 0.15, (variant, loss)


@pytest.mark.parametrize("field, value", [
    ("epochs", 0), ("batch_size", -1), ("precision", "float8"), ("learning_rate", 0.0),
])
def test_bad_training_config(field, value):
    with pytest.raises(ValueError, match=field):
        TrainingConfig(**{field: value})
