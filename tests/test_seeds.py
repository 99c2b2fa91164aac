"""The seed runner: bitwise identical results whatever the chunking, devices and processes;
resumable after SIGKILL; configs never mixed; diverging seeds isolated."""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analysis import seeds, studies

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
from seeds_common import BLOCK, CONFIG, N_SEEDS, run  # noqa: E402

WORKER = Path(__file__).parent / "scripts" / "seeds_worker.py"
ROOT = Path(__file__).parent.parent


def same_table(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


@pytest.fixture(scope="module")
def reference():
    # The tests run with x64 on; the workers and the CLI use the default float32. So the
    # in-process reference is computed in float32 too.
    with jax.enable_x64(False):
        return run(chunk=N_SEEDS).to_numpy()


def test_chunk_size_does_not_change_a_bit(reference):
    with jax.enable_x64(False):
        for chunk in (1, 7, 32):
            assert same_table(run(chunk=chunk).to_numpy(), reference), f"chunk {chunk}"


def test_rows_are_per_seed_and_sorted(reference):
    np.testing.assert_array_equal(reference["seed"], np.arange(N_SEEDS))
    assert reference["final_loss"].shape == (N_SEEDS,)
    assert reference["finite"].all()
    # seed i is study(fold_in(key(0), i)) on its own
    with jax.enable_x64(False):
        one = studies.xor(jax.random.fold_in(jax.random.key(0), 5), **CONFIG)
    assert float(one["final_loss"]) == pytest.approx(float(reference["final_loss"][5]), rel=1e-5)


def worker(tmp_path, name, *args):
    out = tmp_path / f"{name}.npz"
    proc = subprocess.run([sys.executable, str(WORKER), str(out), *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(np.load(out))


def test_four_devices_give_the_same_bits(tmp_path, reference):
    assert same_table(worker(tmp_path, "d4", "--devices", "4", "--chunk", "40"), reference)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_over_gloo_give_the_same_bits(tmp_path, reference):
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(tmp_path / f"p{i}.npz"),
                               "--process", str(i), "--port", port, "--chunk", "16"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    for i in range(2):  # every process ends with the whole table
        assert same_table(dict(np.load(tmp_path / f"p{i}.npz")), reference)


def cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "analysis.cli", "seeds", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, **kw)


def test_sigkill_then_resume_loses_and_repeats_nothing(tmp_path):
    out = tmp_path / "study"
    args = ["xor", "--seeds", "256", "--chunk", "16", "--block", "4", "--set", "steps=3000",
            "--out", str(out), "--quiet"]
    proc = cli(*args)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "chunks").glob("*.npz"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list((out / "chunks").glob("*.npz")))
    assert 3 <= done_before < 16, "the run was not stopped mid-way"
    assert not (out / "table.npz").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["study"] == "xor" and manifest["config"]["steps"] == 3000

    resumed = cli(*args, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    table = dict(np.load(out / "table.npz"))
    chunk_seeds = np.concatenate([np.load(p)["seed"] for p in (out / "chunks").glob("*.npz")])
    np.testing.assert_array_equal(np.sort(chunk_seeds), np.arange(256))  # each seed once
    with jax.enable_x64(False):
        fresh = seeds.run_study(studies.xor, 256, config=dict(CONFIG, steps=3000), chunk=256,
                                block=4, progress=False).to_numpy()
    assert same_table(table, fresh)
    final = json.loads((out / "manifest.json").read_text())
    assert final["seeds_done"] == 256 and final["done_ranges"] == [[0, 255]]
    assert final["jax_version"] == jax.__version__


def test_a_different_config_is_refused(tmp_path):
    with jax.enable_x64(False):
        run(out=tmp_path)
        with pytest.raises(ValueError, match="already holds a study"):
            run(out=tmp_path)
        with pytest.raises(ValueError, match="cannot resume: .* has config"):
            seeds.run_study(studies.xor, N_SEEDS, config=dict(CONFIG, steps=61), block=BLOCK,
                            out=tmp_path, resume=True, progress=False)
        with pytest.raises(ValueError, match="cannot resume: .* has block = 4"):
            seeds.run_study(studies.xor, N_SEEDS, config=CONFIG, block=8, out=tmp_path,
                            resume=True, progress=False)
        # the same study resumes, computing nothing new and returning the same table
        again = run(out=tmp_path, resume=True).to_numpy()
        assert same_table(again, run().to_numpy())


def unstable(key, *, threshold=0.7):
    """Gradient descent on a quadratic with a seed-dependent rate: past 1.0 it diverges."""
    rate = 2.2 * jax.random.uniform(key)
    w = jnp.ones(3)

    def step(w, _):
        return w - rate * w, None  # |1 - rate| > 1 -> |w| grows without bound

    w, _ = jax.lax.scan(step, w, None, length=2000)
    return {"w": w, "rate": rate}


def test_diverging_seeds_are_flagged_and_the_rest_unaffected():
    with jax.enable_x64(False):
        table = seeds.run_study(unstable, 64, chunk=16, block=4, progress=False)
        rates = table.columns["rate"]
        np.testing.assert_array_equal(table.finite, rates < 2.0)  # |1 - rate| < 1 <=> rate < 2
        assert 0 < (~table.finite).sum() < 64
        alone = seeds.run_study(unstable, 8, chunk=8, block=4, progress=False)
        np.testing.assert_array_equal(table.columns["w"][:8], alone.columns["w"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_seeds must be an integer >= 1"):
        seeds.run_study(studies.xor, 0)
    with pytest.raises(ValueError, match="chunk must be an integer >= 1"):
        seeds.run_study(studies.xor, 10, chunk=0)


def test_to_pandas(reference):
    pd = pytest.importorskip("pandas")
    table = seeds.SeedTable(reference["seed"], reference["finite"],
                            {k: v for k, v in reference.items() if k not in ("seed", "finite")})
    frame = table.to_pandas()
    assert isinstance(frame, pd.DataFrame) and len(frame) == N_SEEDS
    assert {"seed", "finite", "final_loss", "failed"} <= set(frame.columns)


def test_a_damaged_chunk_file_is_recomputed(tmp_path, reference):
    with jax.enable_x64(False):
        run(chunk=32, out=tmp_path)
        victim = sorted((tmp_path / "chunks").glob("*.npz"))[1]
        victim.write_bytes(victim.read_bytes()[:100])  # as a crash might leave it
        with pytest.warns(UserWarning, match="ignoring unreadable chunk file"):
            table = run(chunk=32, out=tmp_path, resume=True)
    assert same_table(table.to_numpy(), reference)


def test_manifest_ranges():
    assert seeds._ranges(np.array([5, 0, 1, 2, 9, 8])) == [[0, 2], [5, 5], [8, 9]]
    assert seeds._ranges(np.array([], np.int64)) == []
