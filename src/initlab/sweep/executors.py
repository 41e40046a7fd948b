"""Where trials run: in this process, a local process pool (the default), or Ray.

Every executor calls :func:`initlab.sweep.trials.execute` on a worker, which fixes torch's thread count
before the trial, so one trial gives the same bits on every executor; workers return the trial's
output (bytes included) and only the driver writes the store.

* ``Inline`` (``workers=0``): in the driver's process, one trial after another (debugging).
* ``Local`` (default): :class:`concurrent.futures.ProcessPoolExecutor`, embedded, no server. Workers are
  *spawned* (a fresh interpreter, like a Ray worker: forking a process whose OpenMP threads have run is
  unsafe), keep their imports and data caches between trials, and exit when the driver dies (a watchdog
  thread polls the parent pid), so ``kill -9`` of the driver leaves no orphans. At most 2 × workers
  trials are queued, so a kill loses only the trials in flight. A worker that dies (segfault, OOM kill)
  breaks the pool: the pool is rebuilt and its trials retried once, then recorded as failed.
* ``Ray``: **Ray core tasks**, not Ray Tune. A sweep here is a fixed list of independent trials with its
  own store, ids and resume; Tune would add a second trial store, its own trial names and checkpoint
  layout, a search-algorithm/scheduler layer we do not use, and a heavier start. One ``@ray.remote``
  task per trial (``num_cpus = threads``, ``OMP_NUM_THREADS`` set in its ``runtime_env`` and again in
  the task, since Ray sets it from the task's CPUs), ``max_retries=2`` so a killed worker's trial runs
  again, results streamed back with ``ray.wait``. ``address=None`` starts or joins a local Ray;
  ``"HOST:PORT"``/``"auto"`` joins a cluster (``ray start --head``). A Ray started here is shut down
  when the sweep ends. Ray is optional: ``pip install initlab[ray]``.
"""
from __future__ import annotations

import collections
import multiprocessing
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Iterable, Iterator

from .trials import execute, set_threads

__all__ = ["Inline", "Local", "Ray", "make", "default_workers"]

Pair = tuple[dict[str, Any], dict[str, Any]]


def default_workers(threads: int = 1) -> int:
    """The usable cores divided by the threads per trial (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, threads))


def _failed(task: dict[str, Any], message: str) -> dict[str, Any]:
    return {"id": task["id"], "status": "failed", "metrics": {}, "info": {}, "files": {}, "error": message,
            "traceback": message, "seconds": None}


class Inline:
    name = "inline"

    def __init__(self, threads: int = 1):
        self.threads = threads

    def run(self, tasks: Iterable[dict[str, Any]]) -> Iterator[Pair]:
        import torch

        before = torch.get_num_threads()
        try:
            for t in tasks:
                yield t, execute(t)
        finally:
            set_threads(before)


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def _init_worker(threads: int, parent: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


class Local:
    name = "local"

    def __init__(self, workers: int, threads: int = 1):
        if workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        self.workers, self.threads = workers, threads

    def _pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(self.threads, os.getpid()))

    def run(self, tasks: Iterable[dict[str, Any]]) -> Iterator[Pair]:
        pending = collections.deque(tasks)
        attempts: collections.Counter[str] = collections.Counter()
        inflight: dict[Any, dict[str, Any]] = {}
        pool = self._pool()
        try:
            while pending or inflight:
                while pending and len(inflight) < 2 * self.workers:
                    t = pending.popleft()
                    inflight[pool.submit(execute, t)] = t
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                broken = []
                for f in done:
                    t = inflight.pop(f)
                    try:
                        yield t, f.result()
                    except BrokenProcessPool:
                        broken.append(t)
                if broken:  # every queued trial fails with the pool: retry each once in a new pool
                    broken += list(inflight.values())
                    inflight.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    for t in reversed(broken):
                        attempts[t["id"]] += 1
                        if attempts[t["id"]] >= 2:
                            yield t, _failed(t, "WorkerDied: the worker process running this trial died twice (a "
                                                "script calling initlab.sweep.run must do so under `if __name__ == "
                                                "'__main__':`, since workers are spawned and import it)")
                        else:
                            pending.appendleft(t)
                    pool = self._pool()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


class Ray:
    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, threads: int = 1):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ValueError("the Ray executor needs ray: pip install 'initlab[ray]'") from None
        self.address, self.workers, self.threads = address, workers, threads

    def run(self, tasks: Iterable[dict[str, Any]]) -> Iterator[Pair]:
        import ray

        started = not ray.is_initialized()
        if started:
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.address is None and self.workers:
                kw["num_cpus"] = self.workers * self.threads  # when Ray starts here
            try:
                ray.init(address=self.address, **kw)
            except ValueError:  # joined a running Ray, which refuses num_cpus: take its CPUs
                if "num_cpus" not in kw:
                    raise
                del kw["num_cpus"]
                ray.init(address=self.address, **kw)
        env = {"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        remote = ray.remote(execute).options(num_cpus=self.threads, max_retries=2, runtime_env={"env_vars": env})
        try:
            pending = collections.deque(tasks)
            limit = max(2, 2 * int(ray.cluster_resources().get("CPU", 1) // self.threads))
            inflight: dict[Any, dict[str, Any]] = {}
            while pending or inflight:
                while pending and len(inflight) < limit:
                    t = pending.popleft()
                    inflight[remote.remote(t)] = t
                done, _ = ray.wait(list(inflight), num_returns=1)
                for ref in done:
                    t = inflight.pop(ref)
                    try:
                        out = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 — worker crashed past its retries
                        out = _failed(t, f"{type(exc).__name__}: {exc}")
                    yield t, out
        finally:
            if started:
                ray.shutdown()


def make(workers: int | None, ray: bool | str | None, threads: int) -> Any:
    """The executor for ``workers``/``ray`` (see :func:`initlab.sweep.run`)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise ValueError(f"workers must be None (all cores), 0 (in this process) or an integer >= 1, got {workers!r}")
    if ray:
        return Ray(None if ray is True else str(ray), workers, threads)
    if workers == 0:
        return Inline(threads)
    return Local(workers or default_workers(threads), threads)
