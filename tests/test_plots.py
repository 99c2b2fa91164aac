import numpy as np

from analysis import plots


def test_symlog_ticks_sit_at_zero_and_whole_decades_beyond_the_linear_range():
    fig, axes = plots.figure(1, 1)
    ax = axes[0, 0]
    values = np.array([-3e-4, -2e-6, 0.0, 5e-7, 2e-3, 0.05])
    plots.symlog(ax, "y", 1e-6, values)
    assert ax.get_yscale() == "symlog"
    # positive side up to 0.05 (decades 1e-5 .. 1e-1), negative side down to -3e-4 (-1e-5 ..
    # -1e-3); nothing at +-linthresh, where the labels would print over the 0
    np.testing.assert_allclose(sorted(ax.get_yticks()),
                               [-1e-3, -1e-4, -1e-5, 0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1])


def test_symlog_thins_long_runs_of_decades_keeping_the_largest():
    fig, axes = plots.figure(1, 1)
    ax = axes[0, 0]
    plots.symlog(ax, "x", 1e-9, np.array([0.0, 1.0]))  # decades 1e-8 .. 1e0: nine of them
    np.testing.assert_allclose(sorted(ax.get_xticks()), [0, 1e-8, 1e-6, 1e-4, 1e-2, 1.0])
