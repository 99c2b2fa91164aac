"""The study every seed-runner test uses: XOR 2-2-1, short training, small blocks."""

from analysis import seeds, studies

N_SEEDS = 96
CONFIG = {"learning_rate": 2.0, "steps": 60, "init_scale": 1.0}
BLOCK = 4


def run(chunk: int = 100, **kw):
    return seeds.run_study(studies.xor, N_SEEDS, config=CONFIG, chunk=chunk, block=BLOCK,
                           progress=False, **kw)
