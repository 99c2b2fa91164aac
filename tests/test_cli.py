"""The command line as a user meets it: a real subprocess with the default (float32) config."""

import json
import subprocess
import sys

import pytest

from analysis import cli
from analysis.chapter6 import EXPERIMENTS


def ch6jax(*args, cwd=None, warnings_are_errors=False):
    # JAX warns (and truncates) when float64 is asked for outside an x64 context: a silently
    # wrong number, so the full run treats every UserWarning as an error
    flags = ["-W", "error::UserWarning"] if warnings_are_errors else []
    return subprocess.run([sys.executable, *flags, "-m", "analysis.cli", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    proc = ch6jax("reproduce", "--quick", "--out", str(out), "--quiet", warnings_are_errors=True)
    assert proc.returncode == 0, proc.stderr
    return out


def test_reproduce_writes_every_figure_and_file(quick_results):
    figures = {p.stem for p in (quick_results / "figures").glob("*.png")}
    assert {"fig6_2_gates", "fig6_3_perceptron", "fig6_4_6_6_xor", "fig6_9_seven_segment",
            "fig6_10_approximation", "algorithm_6_1_sgd", "backprop_check",
            "seed_studies", "fig6_11_nonconvexity", "hessian_spectra", "landscape_seven_segment",
            "saddle_escape", "cliff", "symmetry_group", "symmetry_alignment",
            "fig6_14_energy", "hopfield_recall", "hopfield_capacity_curves",
            "hopfield_crosstalk", "hopfield_rules", "hopfield_basins"} <= figures
    for p in (quick_results / "figures").glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (quick_results / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(figures)  # self-contained
    assert "Errata" in html and "Environment" in html


def test_metrics_hold_the_exact_values(quick_results):
    m = json.loads((quick_results / "metrics.json").read_text())
    p = m["perceptron"]["table_6_1"]
    assert p["epochs_to_converge"] == 6
    assert p["w"] == pytest.approx([-0.45, -0.06], abs=1e-9)
    assert p["b"] == pytest.approx(1.6, abs=1e-9)
    assert p["first_update"]["w"] == pytest.approx([-1.13, -0.78], abs=1e-12)
    assert p["first_update"]["b"] == pytest.approx(-0.8, abs=1e-12)
    assert m["xor"]["perceptron"]["separable"] is False
    assert m["xor"]["two_layer_skip"]["correct"] == 4
    assert m["seven_segment"]["standard_accuracy"] == 1.0
    irregular = m["seven_segment"]["irregular"]
    assert len(irregular) >= 10
    assert all({"segments", "label", "predicted", "probabilities"} <= set(g) for g in irregular)
    assert all(sum(g["probabilities"]) == pytest.approx(1.0, abs=1e-5) for g in irregular)
    for name in ("x2", "abs", "tanh", "step"):
        assert 0 <= m["uat"][name]["test_mse"] < 0.05
    assert m["backprop"]["classification_7_18_10"]["max_rel_vs_autodiff"] < 1e-10
    assert m["environment"]["default_float"] == "float32"
    s = m["seeds"]
    assert 0 <= s["two_sample"]["fraction_converged"] <= 1 and s["two_sample"]["seeds"] == 512
    assert 0 <= s["seven_segment"]["irregular_accuracy_mean"] <= 1
    assert s["seven_segment"]["standard_accuracy_mean"] == 1.0
    assert 0 <= s["xor"]["fraction_failed"] <= 1
    nc = m["nonconvexity"]
    assert nc["c"]["loss"] == pytest.approx(0.25) and nc["a"]["verdict"] == "not stationary"
    assert len(nc["a"]["hessian"]["matrix"]) == 7 and len(nc["a"]["eigenvalues"]) == 7
    assert "strict minimum" not in nc["search"]["loss_0_25"]  # the chapter's (d) is not found
    h = m["hessian"]["xor"]
    assert len(h["eigenvalues"]) == 9 and h["lanczos"]["max_error_relative_to_spectral_radius"] < 1e-8
    assert h["trace"]["exact"] == pytest.approx(sum(h["eigenvalues"]), rel=1e-12)
    land = m["landscape"]["seven_segment"]
    assert land["random"]["centre_loss"] == pytest.approx(land["final_loss"], rel=1e-9)
    assert land["random"]["grid"] == 31 and land["path"]["barrier"] >= 0
    sad = m["saddles"]
    assert (sad["saddle"]["verdict"], sad["saddle"]["index"]) == ("saddle", 2)
    assert sad["escape"]["at"]["gd"]["fraction_escaped"] == 0.0
    assert sad["escape"]["at"]["sgd"]["fraction_escaped"] == 1.0
    sym = m["symmetry"]
    assert sym["group_size"]["tanh"]["7"] == 645_120 and sym["group_size"]["relu"]["7"] == 5040
    assert sym["max_deviation"]["tanh_4"]["elements"] == 384
    assert all(v["max_deviation"] < 1e-12 for v in sym["max_deviation"].values())
    for d in sym["distinct_minima"].values():
        assert 1 <= d["clusters_canonical"] <= d["clusters_raw"] <= d["converged"] <= d["runs"]
    for a in sym["alignment"].values():
        assert a["barrier_after"]["mean"] < a["barrier_before"]["mean"]
    hop = m["hopfield"]
    assert hop["example"]["printed_differs_at"] == [[5, 4]]
    assert hop["example"]["recall"]["xi3"]["async_final_states"] == [[1, -1, 1, -1, 1]]
    assert hop["example"]["recall"]["xi4"]["async_final_states"] == [[-1, 1, -1, 1, -1]]
    assert hop["energy"]["max_increase_async"] <= 1e-12
    assert hop["binary_encoding"]["stored_fixed_with_exact_bias"] == [True, True]
    assert hop["recall"]["retrieved"] > 0.9 and hop["recall"]["converged"] == 1.0
    cap = hop["capacity"]
    assert len(cap["alpha_c"]) == len(cap["sizes"]) - 1
    assert 0.05 < cap["alpha_c_inf"] < 0.25 and cap["alpha_c_inf_err"] > 0
    for c in cap["crosstalk"]:
        assert abs(c["variance"] / c["variance_theory"] - 1) < 0.1
    rules = cap["rules"]["retrieved"]
    assert all(p >= h for p, h in zip(rules["pseudo_inverse"], rules["hebb"]))
    assert cap["modern"]["retrieved"][-1] == 1.0 and cap["modern"]["loads"][-1] == 4.0
    basins = hop["basins"]
    assert basins["retrieved"][0][0] == 1.0 and basins["retrieved"][-1][-1] < 0.1
    assert sum(hop["spurious_census"]["fractions"].values()) == pytest.approx(1.0)


def test_seed_studies_saved_their_chunks_and_reuse_them(quick_results, tmp_path):
    work = quick_results / "work"
    manifests = sorted(p.parent.name for p in work.glob("*/manifest.json"))
    assert [m.split("-root")[0] for m in manifests] == [
        "endpoint-seven_segment", "endpoint-two_sample", "endpoint-xor", "saddle_escape-1e-3", "saddle_escape-1e-6", "saddle_escape-at", "seven_segment",
        "two_sample", "xor"]
    # A second run into the same folder resumes the saved studies instead of recomputing, and
    # a run of one experiment keeps the other experiments' results.
    before = json.loads((quick_results / "metrics.json").read_text())
    proc = ch6jax("reproduce", "--quick", "--only", "seed_studies", "--out", str(quick_results),
                  "--quiet")
    assert proc.returncode == 0, proc.stderr
    after = json.loads((quick_results / "metrics.json").read_text())
    assert after["seeds"] == before["seeds"] and after["perceptron"] == before["perceptron"]
    assert "about 500 epochs" in (quick_results / "errata.md").read_text()


def test_errata_lists_the_perceptron_claim(quick_results):
    errata = (quick_results / "errata.md").read_text()
    assert "about 500 epochs" in errata and "w = (-0.45, -0.06)" in errata


def test_single_experiment_with_user_settings(tmp_path):
    proc = ch6jax("perceptron", "--eta", "1.0", "--shuffle-seed", "3", "--out", str(tmp_path),
                  "--quiet")
    assert proc.returncode == 0, proc.stderr
    m = json.loads((tmp_path / "metrics.json").read_text())["perceptron"]["table_6_1"]
    assert m["settings"]["eta"] == 1.0 and m["converged"]
    assert m["training_errors"] == 0
    # the errata only compare the chapter's own setup
    assert "500 epochs" not in (tmp_path / "errata.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["reproduce", "--only", "nosuch"], "unknown experiment(s) ['nosuch']"),
    (["reproduce", "--seed", "minus"], "argument --seed: invalid int value"),
    (["reproduce", "--seed", "-1"], "seed must be a non-negative integer"),
    (["seven_segment", "--steps", "0"], "steps must be positive"),
    (["sgd", "--learning-rate", "-0.5"], "learning_rate must be positive"),
    (["nosuch"], "invalid choice"),
])
def test_bad_input_exits_nonzero_with_one_line(args, message, tmp_path):
    proc = ch6jax(*args, "--out", str(tmp_path / "r"), cwd=tmp_path) if args[0] != "nosuch" \
        else ch6jax(*args)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_list_names_every_experiment(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    parts = {f"hopfield {part}": target for part, target in cli.HOPFIELD_PARTS.items()}
    assert all(name in out for name in EXPERIMENTS if name not in parts.values())
    assert all(command in out for command in parts)


def test_hopfield_parts_are_subcommands_with_their_own_settings(tmp_path):
    args = cli.build_parser().parse_args(["hopfield", "capacity", "--sizes", "100,200,400",
                                          "--rule", "storkey"])
    assert (args.command, args.part, args.sizes, args.rule) == ("hopfield", "capacity",
                                                                "100,200,400", "storkey")
    assert cli.build_parser().parse_args(["hopfield"]).part is None      # the chapter's example
    proc = ch6jax("hopfield", "recall", "--n", "100", "--k", "200", "--out", "r", cwd=tmp_path)
    assert proc.returncode == 2 and "k must be below n = 100" in proc.stderr
