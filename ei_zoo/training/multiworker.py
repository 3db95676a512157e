"""Training on several machines: `train_and_export(..., strategy="multiworker")`.

Every machine runs the same command with its own `TF_CONFIG` (docs/training.md,
"Training on several machines"). The workers train one model in lockstep,
each on its share of every batch; worker 0, the chief, keeps the run folder
and writes the export, and the others write only to a temporary folder, so
they need no shared file system and never write the chief's files when they
do share one. A worker that stops, or never starts, ends the run on every
worker within a bounded time with `WorkerLostError`, instead of a hang.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import tempfile
from pathlib import Path

import keras
import numpy as np

from ei_zoo.optional import tensorflow

tf = tensorflow("Multi-worker training")
from tensorflow.python.eager import context  # noqa: E402  (private: the coordination service)

# How long a worker waits for all the others to start.
JOIN_SECONDS = 300
# How long a worker may send no heartbeat before the others give up on it.
HEARTBEAT_SECONDS = 10
# What a collective raises when a peer is gone: connection lost, no heartbeat, abort.
LOST_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.AbortedError,
                     tf.errors.DeadlineExceededError, tf.errors.CancelledError)


class WorkerLostError(ConnectionError):
    """A worker of a multi-worker run stopped or never joined; the run stopped on every worker."""


class _MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy whose `reduce` takes what Keras 3's `fit` gives it.

    Keras reduces the first (images, labels) batch in one call, to learn its
    shapes, and each step's scalar logs along `axis=0`; TensorFlow's
    multi-worker strategy refuses both (keras-team/keras#20585). Here each part
    of a nested value is reduced on its own, and a scalar across replicas only.
    """

    def reduce(self, reduce_op, value, axis):
        def reduce_part(part):
            scalar = all(len(local.shape) == 0 for local in self.experimental_local_results(part))
            return super(_MultiWorkerStrategy, self).reduce(
                reduce_op, part, None if scalar else axis)

        return tf.nest.map_structure(reduce_part, value)


@functools.cache
def multiworker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """The strategy over the workers that `TF_CONFIG` lists; one per process.

    TensorFlow's coordination service is configured here, before the strategy
    would start it with its defaults, under which a worker that never starts
    leaves the others waiting forever, deaf to SIGTERM. Here they wait
    `JOIN_SECONDS` for every worker to join, and stop when one sends no
    heartbeat for `HEARTBEAT_SECONDS` (killed, crashed, frozen or cut off).
    """
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    try:
        cluster = resolver.cluster_spec()
    except ValueError as error:  # json.JSONDecodeError
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}).") from None
    if "worker" not in cluster.jobs or resolver.task_type != "worker":
        raise ValueError(
            "--strategy multiworker needs TF_CONFIG to list the workers and name this one, "
            'e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}; see docs/training.md.')
    context.context().configure_coordination_service(
        service_type="standalone", service_leader="/job:worker/replica:0/task:0",
        cluster_register_timeout_in_ms=JOIN_SECONDS * 1000,
        heartbeat_timeout_in_ms=HEARTBEAT_SECONDS * 1000)
    # Without it, the chief waits for the others in a barrier of one hour.
    context.context().coordination_service.cluster_register_with_barrier = True
    try:
        return _MultiWorkerStrategy(cluster_resolver=resolver)
    except tf.errors.DeadlineExceededError as error:
        raise WorkerLostError(
            f"worker {resolver.task_id} of {cluster.num_tasks('worker')}: "
            f"{_workers_named_in(error, resolver)} did not join within {JOIN_SECONDS} s; start "
            "the same command on every machine that TF_CONFIG lists.") from None


def is_multiworker(distribution: tf.distribute.Strategy) -> bool:
    return isinstance(distribution, _MultiWorkerStrategy)


def is_chief(distribution: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: worker 0, or any single process."""
    return distribution.extended.should_checkpoint


def worker_name(distribution: tf.distribute.Strategy) -> str:
    """`worker 1 of 2`, as messages name this process."""
    resolver = distribution.cluster_resolver
    count = resolver.cluster_spec().num_tasks("worker")
    return f"worker {resolver.task_id} of {count}"


@contextlib.contextmanager
def worker_folders(distribution: tf.distribute.Strategy, work_dir, out):
    """(work_dir, out) for this process: the given ones on the chief, a temporary
    folder's on the other workers, which keep no state (`ShareChiefState`)."""
    if is_chief(distribution):
        yield Path(work_dir), Path(out)
        return
    with tempfile.TemporaryDirectory(prefix="ei-zoo-worker-") as private:
        yield Path(private) / "runs", Path(private) / "exported"


def _sum_over_replicas(distribution, values: list, chief_only: bool) -> list[tf.Tensor]:
    """`values` (tensors) summed over all replicas, one collective per dtype;
    with `chief_only`, replicas other than the chief's first add zeros."""
    values = [tf.convert_to_tensor(value) for value in values]
    if not is_multiworker(distribution):
        return values

    @tf.function
    def reduce(values):
        replica = tf.distribute.get_replica_context()
        adds = tf.equal(replica.replica_id_in_sync_group, 0) if chief_only else True
        # New tensors, on this replica's device: all_reduce sends to the inputs' devices.
        values = [tf.where(adds, value, tf.zeros_like(value)) for value in values]
        reduced = list(values)
        # all_reduce packs one dtype at a time, in the same order on every worker
        for dtype in dict.fromkeys(value.dtype for value in values):
            places = [i for i, value in enumerate(values) if value.dtype == dtype]
            for i, value in zip(places, replica.all_reduce("sum", [values[i] for i in places])):
                reduced[i] = value
        return reduced

    result = distribution.run(reduce, args=(values,))
    return list(distribution.experimental_local_results(result)[0])


def from_chief(distribution: tf.distribute.Strategy, values: list) -> list[tf.Tensor]:
    """`values` as the chief has them, on every worker: a sum to which only the
    chief adds, so they arrive exactly."""
    return _sum_over_replicas(distribution, values, chief_only=True)


class AverageMovingStatistics(keras.callbacks.Callback):
    """Average the batch-norm moving statistics over the workers after every epoch.

    Keras's BatchNormalization updates them on each worker from its own share
    of the batch, so the workers would end with different weights and the
    chief would export the statistics of its share alone. A moving average
    is linear: the mean of the workers' moving means is the moving mean of
    the whole batches. List it first, so that the epoch's other callbacks
    (`SilentUnits`, `RunCheckpoint`) see the averaged values.
    """

    def on_epoch_end(self, epoch, logs=None):
        variables = [variable for variable in self.model.non_trainable_variables
                     if variable.path.endswith(("/moving_mean", "/moving_variance"))]
        distribution = self.model.distribute_strategy
        sums = _sum_over_replicas(distribution, [variable.value for variable in variables],
                                  chief_only=False)
        for variable, total in zip(variables, sums):
            variable.assign(total / distribution.num_replicas_in_sync)


class ShareChiefState(keras.callbacks.Callback):
    """Start every worker from the chief's weights, optimizer state and epoch.

    Only the chief keeps a checkpoint, so a resumed run takes its state from
    there; a fresh run also loses any difference between the machines'
    `balance_biases`. List it after `RunCheckpoint`, which restores first.
    """

    def on_train_begin(self, logs=None):
        model = self.model
        variables = [*model.variables, *model.optimizer.variables]
        *values, epoch = from_chief(model.distribute_strategy, [
            *(variable.value for variable in variables), model._initial_epoch or 0])
        for variable, value in zip(variables, values):
            variable.assign(value)
        model._initial_epoch = int(epoch)  # what fit resumes from (see RunCheckpoint)


def weights_sha256(model: keras.Model) -> str:
    """sha256 of a model's weights in order, which every worker prints at the end:
    the workers of a run, and the chief's export, must agree on it."""
    digest = hashlib.sha256()
    for weights in model.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    return digest.hexdigest()


def _workers_named_in(error: tf.errors.OpError, resolver) -> str:
    """`worker 1 (host:port)`: the other workers a TensorFlow error message names."""
    cluster = resolver.cluster_spec()
    tasks = sorted({int(task) for task in re.findall(r"/job:worker/(?:replica:\d+/)?task:(\d+)",
                                                     error.message)} - {resolver.task_id})
    return (", ".join(f"worker {task} ({cluster.task_address('worker', task)})" for task in tasks)
            or "another worker")


def lost_worker_message(distribution: tf.distribute.Strategy, error: tf.errors.OpError) -> str:
    """One line naming the worker whose loss a collective's `error` reports."""
    return (f"{worker_name(distribution)}: "
            f"{_workers_named_in(error, distribution.cluster_resolver)} stopped "
            f"({type(error).__name__}); start every worker again with the same command: the "
            "run resumes from the chief's last checkpoint.")
