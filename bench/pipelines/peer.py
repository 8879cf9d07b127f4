"""The same DAG in Prefect: a chain of N tasks, each running the no-op
container, timed as a whole and per container; then the flow again with
every task cached (cache_policy=INPUTS, results persisted). Prints
"peer overhead_ms=… cached_ms=… wall_ms=… container_ms=…".

Prefect starts its local API (a temporary server on SQLite) on first use;
a warm-up flow pays for that before anything is timed, so the figures are
the orchestrator's per-run cost, not its start-up."""
import subprocess
import sys
import time

from prefect import flow, task
from prefect.cache_policies import INPUTS, NO_CACHE

IMAGE, STEPS = sys.argv[1], int(sys.argv[2])
container = [0.0]


def run_container():
    t = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", "--network", "none", IMAGE], check=True, capture_output=True)
    container[0] += time.perf_counter() - t


@task(cache_policy=INPUTS, persist_result=True)
def step(n, after):
    run_container()
    return f"s{n}-{after}"


@task(cache_policy=NO_CACHE)
def warm():
    return 1


@flow
def warm_up():
    return warm()


@flow
def chain():
    prev = None
    for n in range(1, STEPS + 1):
        prev = step(n, prev)
    return prev


warm_up()
t = time.perf_counter()
chain()
wall = time.perf_counter() - t
cont = container[0]
t = time.perf_counter()
chain()
cached = time.perf_counter() - t
if container[0] != cont:
    sys.exit("the second Prefect run was not fully cached")
print(f"peer overhead_ms={(wall - cont) * 1000 / STEPS:.2f} cached_ms={cached * 1000:.2f} wall_ms={wall * 1000:.1f} container_ms={cont * 1000:.1f}")
