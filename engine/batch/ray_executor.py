"""The Ray executor: an actor pool, one `MediaWorker` (one segmenter) per actor.

Ray is an optional extra (``pip install 'framewise[ray]'``) imported only here and only
when the executor runs. Without ``address`` a local Ray is started for the run (and shut
down after it); with one, the run joins that cluster (``ray start --head`` prints it).
If Ray is already initialised in this process (tests, notebooks) it is used as is.

Each actor asks for 1 CPU and ``gpus_per_worker`` GPUs, builds the job's state once in
its constructor and decodes its media itself: only paths go out and small results come
back. The driver keeps each actor busy with one media at a time; an actor that dies (a
crashed process, ``ray.kill``, a lost node) is replaced and its media retried on the new
actor up to ``retries`` times, then recorded failed with the cause.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.batch.jobs import MediaOutcome, MediaWorker, WorkerJob, died_outcome, outcome_from_report
from engine.errors import ExecutorError

RAY_MISSING = "the ray executor needs Ray: pip install 'framewise[ray]'"


def import_ray():
    """The ``ray`` module, or an `ExecutorError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ExecutorError(RAY_MISSING) from exc
    return ray


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a ``host:port`` nobody listens on (Ray itself retries for minutes).
    Other forms (``auto``, ``ray://…``) are left to Ray."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ExecutorError(f"cannot reach the Ray cluster at {address}: {exc}; is `ray start --head` running there?") from exc


@dataclass
class _Slot:
    media: str
    attempts: int = 0  # deaths charged so far


@dataclass
class RayExecutor:
    """See the module docstring."""

    workers: int = 1
    address: str | None = None
    gpus_per_worker: float = 0.0
    retries: int = 1
    _started: bool = field(default=False, init=False, repr=False)

    def _init(self, ray) -> None:
        if ray.is_initialized():
            return
        if self.address:
            check_reachable(self.address)
        try:
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
        except Exception as exc:  # ConnectionError, a bad address, a cluster that is not up
            where = self.address or "a local Ray"
            raise ExecutorError(f"cannot start or join Ray at {where}: {_one_line(exc)}") from exc
        self._started = True

    def run(self, job: WorkerJob, media: Sequence[str]) -> Iterator[MediaOutcome]:
        ray = import_ray()
        from ray.exceptions import RayActorError

        self._init(ray)
        actor_class = ray.remote(num_cpus=1, num_gpus=self.gpus_per_worker, max_restarts=0)(MediaWorker)
        queue = deque(_Slot(m) for m in media)
        idle = deque(actor_class.remote(job) for _ in range(min(self.workers, max(len(queue), 1))))
        in_flight: dict[Any, tuple[Any, _Slot]] = {}
        try:
            while queue or in_flight:
                while queue and idle:
                    actor, slot = idle.popleft(), queue.popleft()
                    in_flight[actor.process.remote(slot.media)] = (actor, slot)
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in ready:
                    actor, slot = in_flight.pop(ref)
                    try:
                        report = ray.get(ref)
                    except RayActorError as exc:
                        ray.kill(actor, no_restart=True)
                        idle.append(actor_class.remote(job))  # a fresh actor takes its place
                        slot.attempts += 1
                        if slot.attempts > self.retries:
                            yield died_outcome(slot.media, slot.attempts, _one_line(exc))
                        else:
                            queue.appendleft(slot)
                        continue
                    except Exception as exc:  # noqa: BLE001 - the result could not come back (pickling)
                        idle.append(actor)
                        yield MediaOutcome(slot.media, ok=False, error=_one_line(exc), attempts=slot.attempts + 1)
                        continue
                    idle.append(actor)
                    yield outcome_from_report(report, slot.attempts + 1)
        finally:
            for actor in (*idle, *(a for a, _ in in_flight.values())):
                ray.kill(actor, no_restart=True)
            if self._started:
                ray.shutdown()
                self._started = False
