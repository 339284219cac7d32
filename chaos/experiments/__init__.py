"""The catalogue of experiments, by name."""

from chaos.experiments import (
    disruptive_rejoin,
    double_apply,
    etcd_lock_pause,
    kafka_lost_ack,
    kafka_zombie_consumer,
    limiter_partition,
    lock_gc_pause,
    lost_ack,
    no_fsync,
    overload_cascade,
    retry_storm,
    slow_disk,
    stale_read,
    tail_latency,
    zombie_consumer,
)
from chaos.experiments.base import Experiment

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        stale_read.EXPERIMENT,
        disruptive_rejoin.EXPERIMENT,
        lock_gc_pause.EXPERIMENT,
        double_apply.EXPERIMENT,
        lost_ack.EXPERIMENT,
        zombie_consumer.EXPERIMENT,
        no_fsync.EXPERIMENT,
        slow_disk.EXPERIMENT,
        limiter_partition.EXPERIMENT,
        tail_latency.EXPERIMENT,
        overload_cascade.EXPERIMENT,
        retry_storm.EXPERIMENT,
        etcd_lock_pause.EXPERIMENT,
        kafka_lost_ack.EXPERIMENT,
        kafka_zombie_consumer.EXPERIMENT,
    )
}

__all__ = ["EXPERIMENTS", "Experiment"]
