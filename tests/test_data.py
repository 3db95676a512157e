import numpy as np
import pytest
import tensorflow_datasets as tfds

from ei_zoo import data


def _first_batch(dataset):
    images, labels = next(iter(dataset))
    return np.asarray(images), np.asarray(labels)


def test_train_pipeline_on_mock_data():
    with tfds.testing.mock_data(num_examples=200):
        dataset = data.train_dataset(batch_size=32, limit=128, seed=0)
        images, labels = _first_batch(dataset)
        assert images.shape == (32, 32, 32, 3) and images.dtype == np.float32
        assert labels.shape == (32,)
        assert 0 <= images.min() and images.max() <= 255
        assert sum(1 for _ in dataset) == 4  # 128 images, whole batches only


def test_test_pipeline_on_mock_data():
    with tfds.testing.mock_data(num_examples=100):
        batches = list(data.test_dataset(batch_size=40))
    assert [len(labels) for _, labels in batches] == [40, 40, 20]


def test_augmentation_crops_and_flips():
    """A crop of the reflect-padded image: every output row is a window of the padded rows."""
    image = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)
    padded = np.pad(image, [(4, 4), (4, 4), (0, 0)], mode="reflect")
    seen_flip = seen_shift = False
    for seed in range(20):
        out = np.asarray(data.augment(image, np.array([seed, 1], dtype=np.int64)))
        found = False
        for top in range(9):
            for left in range(9):
                window = padded[top:top + 32, left:left + 32]
                if np.array_equal(out, window) or np.array_equal(out, window[:, ::-1]):
                    found = True
                    flipped = np.array_equal(out, window[:, ::-1])
                    seen_flip |= flipped and not np.array_equal(out, window)
                    seen_shift |= (top, left) != (4, 4)
        assert found, f"seed {seed}: output is not a crop of the padded image"
    assert seen_flip and seen_shift


def test_real_cifar10_pipelines(cifar_dir):
    train = data.train_dataset(batch_size=64, data_dir=cifar_dir, limit=256, seed=3)
    images, labels = _first_batch(train)
    assert images.shape == (64, 32, 32, 3) and images.dtype == np.float32
    assert set(np.unique(labels)) <= set(range(10))
    # Repeatable for a seed, different for another, reshuffled every epoch.
    again, _ = _first_batch(data.train_dataset(64, cifar_dir, 256, seed=3))
    other, _ = _first_batch(data.train_dataset(64, cifar_dir, 256, seed=4))
    np.testing.assert_array_equal(images, again)
    assert not np.array_equal(images, other)
    epochs = [np.concatenate([np.asarray(y) for _, y in train]) for _ in range(2)]
    assert not np.array_equal(epochs[0], epochs[1])

    test = data.test_dataset(batch_size=500, data_dir=cifar_dir)
    assert sum(len(labels) for _, labels in test) == 10_000
    first, first_labels = _first_batch(test)
    np.testing.assert_array_equal(first, _first_batch(data.test_dataset(500, cifar_dir))[0])
    # Not augmented: the test images are the raw dataset images.
    raw = next(iter(data.load_split("test", cifar_dir).batch(500)))
    np.testing.assert_array_equal(first, np.asarray(raw[0], dtype=np.float32))


def test_missing_dataset_fails_fast_naming_tfds_data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_host_reachable", lambda *args, **kwargs: False)
    with pytest.raises(data.DatasetUnavailableError, match="TFDS_DATA_DIR"):
        data.train_dataset(data_dir=tmp_path)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        data.test_dataset()


@pytest.mark.parametrize("argument", [{"batch_size": 0}, {"limit": -5}, {"batch_size": 2.5}])
def test_bad_sizes_are_rejected(argument):
    with pytest.raises(ValueError, match=next(iter(argument))):
        data.train_dataset(**argument)
