"""Run a small seed study in a fresh process and save its table (used by tests/test_seeds.py).

usage: seeds_worker.py OUT.npz [--devices K] [--chunk C] [--process I --port P]
With --process, joins a 2-process jax.distributed run on 127.0.0.1 over gloo.
"""

import argparse
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--devices", type=int, default=1)
parser.add_argument("--chunk", type=int, default=100)
parser.add_argument("--process", type=int, default=None)
parser.add_argument("--port", type=int, default=None)
args = parser.parse_args()
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"

import jax  # noqa: E402

if args.process is not None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{args.port}", num_processes=2,
                               process_id=args.process)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from seeds_common import run  # noqa: E402

assert len(jax.local_devices()) == args.devices
table = run(chunk=args.chunk)
np.savez(args.out, **table.to_numpy())
if args.process is not None:
    jax.distributed.shutdown()
