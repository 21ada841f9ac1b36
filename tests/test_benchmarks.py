"""The accuracy harness and its collector, end to end on a tiny data set."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO
from helpers_data import write_image_folder

pytestmark = pytest.mark.slow  # trains in subprocesses


def _run(script, *flags, cwd):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "benchmarks", script), *flags],
        cwd=cwd, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("accuracy")
    write_image_folder(str(tmp / "cifar"), 96)
    out = tmp / "results"
    # scratch after tfprune: it trains the architecture tfprune found.
    for method in ("tfprune", "thin", "slimming", "scratch"):
        _run("accuracy.py", f"--method={method}", "--width=0.0625",
             "--epochs=2", "--batch_size=16", "--val_size=32",
             "--tflm_samples=0", f"--data_dir={tmp / 'cifar'}",
             f"--results_dir={out}", cwd=tmp)
    # The widths of another method's run, with another weight decay.
    _run("accuracy.py", "--method=scratch", "--weight_decay=1e-4",
         f"--architecture_from={out / 'slimming_params0.94_s0.json'}",
         "--width=0.0625", "--epochs=2", "--batch_size=16", "--val_size=32",
         "--tflm_samples=0", f"--data_dir={tmp / 'cifar'}",
         f"--results_dir={out}", cwd=tmp)
    # Distilled from its own snapshot, taken after the first of 2 epochs.
    _run("accuracy.py", "--teacher=warmup", "--warmup=0.5", "--ramp=0.5",
         "--width=0.0625", "--epochs=2", "--batch_size=16", "--val_size=32",
         "--tflm_samples=0", f"--data_dir={tmp / 'cifar'}",
         f"--results_dir={out}", cwd=tmp)
    return out


def test_every_run_writes_its_json_and_tflite(results):
    names = sorted(os.listdir(results))
    for method in ("tfprune", "thin", "slimming"):
        assert f"{method}_params0.94_s0.json" in names
        assert f"{method}_params0.94_s0.tflite" in names
    tfprune_run = json.load(open(results / "tfprune_params0.94_s0.json"))
    assert abs(tfprune_run["removed_vs_reference"]["params"] - 0.94) <= 0.005
    distilled = json.load(
        open(results / "tfprune_params0.94_s0_kdwarmup.json"))
    assert distilled["teacher"] == "warmup"
    assert distilled["history"]["distillation_loss"][0] == 0
    assert distilled["history"]["distillation_loss"][1] > 0
    thin = json.load(open(results / "thin_params0.94_s0.json"))
    # The thin model fits the same budget, measured against the same model.
    assert thin["after"]["params"] <= tfprune_run["reference"]["params"] * 0.06
    assert thin["reference"] == tfprune_run["reference"]
    scratch = json.load(open(results / "scratch_params0.94_s0.json"))
    assert scratch["after"] == tfprune_run["after"]
    assert scratch["target"] == 0 and not scratch["layer_widths"]
    assert scratch["architecture_from"] == str(
        results / "tfprune_params0.94_s0.json")
    assert scratch["weight_decay"] == 5e-4
    slimming = json.load(open(results / "slimming_params0.94_s0.json"))
    other = json.load(
        open(results / "scratch_params0.94_s0_from-slimming_wd0.0001.json"))
    assert other["after"] == slimming["after"]
    assert other["weight_decay"] == 1e-4


def _refused(*flags, cwd, timeout=300):
    """The harness' stderr for `flags`, which it must refuse (exit non-zero)
    before it writes anything into `cwd`, its results folder."""
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "benchmarks", "accuracy.py"),
         *flags, f"--results_dir={cwd}"],
        cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode != 0
    assert not os.listdir(cwd)
    return result.stderr


def test_scratch_needs_the_run_whose_architecture_it_trains(tmp_path):
    stderr = _refused("--method=scratch", "--width=0.0625", cwd=tmp_path,
                      timeout=900)
    assert "tfprune_params0.94_s0.json does not exist" in stderr


def test_negative_weight_decay_is_refused_before_training(tmp_path):
    stderr = _refused("--weight_decay=-1", cwd=tmp_path)
    assert "--weight_decay=-1: -1.0 is not a non-negative number" in stderr


def test_distillation_settings_without_a_teacher_are_refused(tmp_path):
    stderr = _refused("--distill_weight=0.9", cwd=tmp_path)
    assert "--distill_weight=0.9 without --teacher" in stderr


def test_distillation_temperature_must_be_positive(tmp_path):
    stderr = _refused("--teacher=initial", "--distill_temperature=0",
                      cwd=tmp_path)
    assert "must be > 0. Received: --distill_temperature=0.0" in stderr


def test_round_to_keeps_channel_counts_in_multiples(tmp_path):
    write_image_folder(str(tmp_path / "cifar"), 64)
    out = tmp_path / "results"
    _run("accuracy.py", "--method=l1", "--round_to=4", "--target=0.5",
         "--width=0.0625", "--epochs=1", "--batch_size=16", "--val_size=32",
         "--tflm_samples=0", f"--data_dir={tmp_path / 'cifar'}",
         f"--results_dir={out}", cwd=tmp_path)
    run = json.load(open(out / "l1_params0.5_s0_round4.json"))
    assert run["round_to"] == 4
    widths = run["layer_widths"].values()
    assert any(kept < size for kept, size in widths)
    assert all(kept % 4 == 0 or kept == size for kept, size in widths)
    assert run["removed_vs_reference"]["params"] >= 0.5
    table = _run("collect_accuracy.py", f"--results_dir={out}", cwd=tmp_path)
    assert "| l1, widths in multiples of 4 |" in table


def test_round_to_without_pruning_is_refused(tmp_path):
    stderr = _refused("--method=unpruned", "--round_to=8", cwd=tmp_path)
    assert "--round_to=8 --method=unpruned" in stderr


def test_collector_writes_the_table_and_plots(results):
    text = _run("collect_accuracy.py", f"--results_dir={results}",
                cwd=results)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[1:]] == [
        "tfprune", "tfprune + self-KD (warm-up snapshot)", "slimming",
        "thin", "scratch", "scratch (widths of slimming), weight decay 0.0001"]
    for name in ("summary.md", "accuracy_vs_removed.png", "widths.png",
                 "epochs.png"):
        assert os.path.getsize(results / name) > 0


def test_collector_names_a_run_with_two_budgets(monkeypatch):
    """`--target=0.941 --macs_target=0.762`: one row, both budgets named."""
    monkeypatch.syspath_prepend(os.path.join(REPO, "benchmarks"))
    import collect_accuracy

    runs = [{"method": "tfprune", "metric": "params", "seed": seed,
             "name": f"tfprune_params0.941_macs0.762_s{seed}",
             "target": {"params": 0.941, "macs": 0.762}}
            for seed in (0, 1)]
    [(key, grouped)] = collect_accuracy.groups(runs).items()
    assert len(grouped) == 2
    assert collect_accuracy._budget(key[1], key[2], grouped[0]) == \
        "−94.1% params and −76.2% macs"
    assert collect_accuracy._budget("params", "0.94", {"target": 0.94}) \
        == "−94% params"


def test_int8_ties_scores_every_tflite_as_the_run_did(results):
    _run("studies/int8_ties.py", f"--results_dir={results}",
         f"--data_dir={results.parent / 'cifar'}", "--val_size=32",
         cwd=results)
    rows = {row.split("|")[1].strip(): row.split("|")
            for row in open(results / "int8_ties.md").read().splitlines()
            if row.startswith("| ") and not row.startswith("| run ")}
    tflites = {name[:-len(".tflite")] for name in os.listdir(results)
               if name.endswith(".tflite")}
    assert set(rows) == tflites
    for name, cells in rows.items():
        run = json.load(open(results / f"{name}.json"))
        assert cells[4].strip() == f"{run['val_accuracy_int8_litert']:.2%}"
        assert 0 <= float(cells[5].strip().rstrip("%")) <= 100


def test_int8_ties_needs_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "benchmarks", "studies",
                                      "int8_ties.py"),
         f"--results_dir={tmp_path}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert f"No <run>.tflite with its <run>.json in {tmp_path}" \
        in result.stderr


def test_tflite_files_times_every_file_in_one_table(results, tmp_path):
    out = tmp_path / "files.md"
    _run("tflite_files.py", f"--files={results}/*.tflite", "--repeats=2",
         "--runs=3", f"--out={out}", cwd=tmp_path)
    rows = [row.split("|") for row in out.read_text().splitlines()
            if row.startswith(f"| {results}")]
    tflites = sorted(str(path) for path in results.glob("*.tflite"))
    assert [cells[1].strip() for cells in rows] == tflites
    for cells in rows:
        size = os.path.getsize(cells[1].strip())
        assert int(cells[2].strip().replace(",", "")) == size
        assert 0 < int(cells[3].strip().replace(",", "")) < size
        assert float(cells[4]) > 0


def test_tflite_files_needs_a_match(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "benchmarks", "tflite_files.py"),
         f"--files={tmp_path}/*.tflite"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "No .tflite file matches" in result.stderr


def test_zoo_table_rows_prune_with_equal_logits(tmp_path):
    table = _run("zoo.py", "--models=MobileNetV3Small,DenseNet121",
                 cwd=tmp_path)
    rows = [line for line in table.splitlines()
            if line.startswith(("| MobileNetV3Small", "| DenseNet121"))]
    assert len(rows) == 2
    for row in rows:
        cells = [cell.strip() for cell in row.split("|")]
        assert cells[9] == "yes", row  # logits within 1e-4
        assert cells[6] == "50.00%", row  # the solver's measured ratio


def test_tfmot_baseline_writes_its_json_and_the_comparison(tmp_path):
    # Only looked up, not imported: importing tfmot switches this process
    # (and the subprocesses it starts) to Keras 2.
    for module in ("tensorflow_model_optimization", "tf_keras"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    write_image_folder(str(tmp_path / "cifar"), 64)
    _run("tfmot_baseline.py", "--epochs=1", "--batch_size=16",
         "--val_size=16", "--latency_runs=5", "--width=0.0625",
         f"--data_dir={tmp_path / 'cifar'}",
         f"--results_dir={tmp_path / 'results'}", cwd=tmp_path)
    with open(tmp_path / "results" / "tfmot_params0.94_s0.json") as f:
        report = json.load(f)
    assert report["tflite_bytes"] == os.path.getsize(
        tmp_path / "results" / "tfmot_params0.94_s0.tflite")
    assert 0 < report["gzip_bytes"] < report["tflite_bytes"]
    assert 0 <= report["val_accuracy_int8_litert"] <= 1


def test_device_budget_runs_meet_their_budgets_and_are_collected(tmp_path):
    write_image_folder(str(tmp_path / "cifar"), 64)
    out = tmp_path / "results"
    common = ["--width=0.0625", "--epochs=2", "--batch_size=16",
              "--val_size=16", "--tflm_samples=0",
              f"--data_dir={tmp_path / 'cifar'}", f"--results_dir={out}"]
    _run("accuracy.py", "--flash_bytes=24000", "--arena_bytes=14000",
         *common, cwd=tmp_path)
    run = json.load(open(out / "tfprune_flash24000_arena14000_s0.json"))
    assert run["tflite_bytes"] == os.path.getsize(
        out / "tfprune_flash24000_arena14000_s0.tflite")
    assert run["tflite_bytes"] <= 24000
    assert run["tflm_arena_bytes"] <= 14000
    _run("accuracy.py", "--metric=params",
         f"--target={round(run['removed']['params'], 4)}", *common,
         cwd=tmp_path)
    table = _run("collect_device_budgets.py", f"--results_dir={out}",
                 cwd=tmp_path)
    rows = [line.split("|") for line in table.splitlines()
            if line.startswith("| VGG")]
    assert len(rows) == 2
    meets = {row[2].strip(): row[6].strip() for row in rows}
    assert meets["flash <= 24,000 B, arena <= 14,000 B"] == "yes"
    assert os.path.getsize(out / "accuracy_vs_bytes.png") > 0


def test_harness_fine_tunes_a_trained_model(tmp_path):
    import tfprune

    write_image_folder(str(tmp_path / "cifar"), 64)
    start = tmp_path / "trained.keras"
    tfprune.models.vgg16_cifar(width=0.0625).save(start)
    common = ["--width=0.0625", "--epochs=1", "--batch_size=16",
              "--val_size=32", "--tflm_samples=0", "--metric=macs",
              "--target=0.5", f"--init_from={start}",
              f"--data_dir={tmp_path / 'cifar'}",
              f"--results_dir={tmp_path / 'finetune_e1'}"]
    for method in ("l1oneshot", "dcp"):
        _run("accuracy.py", f"--method={method}", *common, cwd=tmp_path)
        run = json.load(open(
            tmp_path / "finetune_e1" / f"{method}_macs0.5_s0.json"))
        assert run["init_from"] == str(start)
        assert run["schedule"]["learning_rate"] == 0.02
        assert run["schedule"]["ramp"] == 0.0
        assert abs(run["removed_vs_reference"]["macs"] - 0.5) <= 0.005
    _run("accuracy.py", "--teacher=initial", "--distill_weight=0.9",
         *common, cwd=tmp_path)
    run = json.load(open(
        tmp_path / "finetune_e1" / "tfprune_macs0.5_s0_kdself.json"))
    assert run["distillation"]["teacher"] == "initial weights of vgg16_cifar"
    assert run["distillation"]["weight"] == 0.9
    assert run["schedule"]["ramp"] == 0.5
    # The collector: one row per method, the starting point's accuracy.
    os.makedirs(tmp_path / "finetune_start")
    start = dict(run, val_accuracy_float=0.5)
    with open(tmp_path / "finetune_start" / "unpruned_params0.94_s0.json",
              "w") as f:
        json.dump(start, f)
    text = _run("collect_finetune.py", f"--results_root={tmp_path}",
                cwd=tmp_path)
    assert "validation top-1 50.00%" in text
    rows = [line.split("|")[2].strip() for line in text.splitlines()
            if line.startswith("| −50% macs")]
    assert rows == ["tfprune + self-KD (initial weights)", "l1oneshot",
                    "dcp"]
    assert os.path.getsize(tmp_path / "finetune.png") > 0
    # A trained model of another width is refused before any training.
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "benchmarks", "accuracy.py"),
         *common[1:], "--width=0.125", "--results_dir=other"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "--model=vgg16 --width=0.125 has" in result.stderr


def test_mlperf_ic_runs_fit_a_flash_budget_and_are_collected(tmp_path):
    # ResNet-8 x0.5: a 29,664 B int8 file unpruned; every method to 20 kB.
    write_image_folder(str(tmp_path / "cifar"), 64)
    out = tmp_path / "mlperf_ic"
    common = ["--model=resnet8", "--width=0.5", "--epochs=1",
              "--batch_size=16", "--val_size=16", "--tflm_samples=0",
              f"--data_dir={tmp_path / 'cifar'}", f"--results_dir={out}"]
    _run("accuracy.py", "--method=unpruned", *common, cwd=tmp_path)
    for method in ("thin", "dcp"):
        _run("accuracy.py", f"--method={method}", "--flash_bytes=20000",
             *common, cwd=tmp_path)
        run = json.load(open(out / f"{method}_flash20000_s0.json"))
        assert run["tflite_bytes"] == os.path.getsize(
            out / f"{method}_flash20000_s0.tflite")
        assert 18000 < run["tflite_bytes"] <= 20000, run["tflite_bytes"]
    table = _run("collect_mlperf_ic.py", f"--results_dir={out}",
                 cwd=tmp_path)
    rows = [line.split("|")[1:3] for line in table.splitlines()
            if line.startswith("| ≤") or line.startswith("| none")]
    assert [(b.strip(), m.strip()) for b, m in rows] == [
        ("none", "unpruned"), ("≤ 20,000 B", "dcp"), ("≤ 20,000 B", "thin")]
    assert os.path.getsize(out / "accuracy_vs_flash.png") > 0


def test_harness_meets_params_and_macs_at_once(tmp_path):
    write_image_folder(str(tmp_path / "cifar"), 48)
    out = tmp_path / "results"
    _run("accuracy.py", "--target=0.941", "--macs_target=0.762",
         "--width=0.0625", "--epochs=2", "--batch_size=16", "--val_size=16",
         "--tflm_samples=0", f"--data_dir={tmp_path / 'cifar'}",
         f"--results_dir={out}", cwd=tmp_path)
    run = json.load(open(out / "tfprune_params0.941_macs0.762_s0.json"))
    removed = run["removed_vs_reference"]
    assert removed["params"] >= 0.941 - 0.005, removed
    assert removed["macs"] >= 0.762 - 0.005, removed
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "benchmarks", "accuracy.py"),
         "--method=thin", "--macs_target=0.5", f"--results_dir={out}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "--macs_target needs --metric=params" in result.stderr


def test_training_cost_times_the_two_runs_back_to_back(tmp_path):
    write_image_folder(str(tmp_path / "cifar"), 64)
    out = tmp_path / "cost"
    _run("training_cost.py", "--repeats=1", "--epochs=2",
         f"--results_dir={out}", "--", "--width=0.0625", "--batch_size=16",
         "--val_size=16", "--tflm_samples=0",
         f"--data_dir={tmp_path / 'cifar'}", cwd=tmp_path)
    for method in ("unpruned", "tfprune"):
        run = json.load(open(out / f"{method}_params0.94_s0.json"))
        assert run["epochs"] == 2 and run["width"] == 0.0625
    [line] = [line for line in open(out / "ratios.txt").read().splitlines()
              if line.startswith("seed 0:")]
    ratios = re.search(r"wall ([\d.]+)x, run ([\d.]+)x, CPU time ([\d.]+)x$",
                       line)
    assert ratios and all(float(r) > 0 for r in ratios.groups()), line


def test_fit_epoch_parts_prints_every_part(tmp_path):
    text = _run("studies/fit_epoch_parts.py", "--width=0.0625", "--batch_size=8",
                "--steps=10", "--timed_steps=2", "--val_batches=2",
                "--calibration_steps=2", cwd=tmp_path)
    for part in ("plain step", "gated step", "validation, gated",
                 "BatchNorm re-estimation", "rebuild (masks, narrow",
                 "first step after it", "hold step (-94% params"):
        assert part in text, part


def test_fit_end_stall_times_each_fit_call(tmp_path):
    write_image_folder(str(tmp_path / "cifar"), 32)
    text = _run("studies/fit_end_stall.py", "--fits=2", "--width=0.0625",
                "--val_size=16",
                f"--data_dir={tmp_path / 'cifar'}", cwd=tmp_path)
    calls = re.findall(r"^fit (\d): before on_train_begin [\d.]+ s, epoch "
                       r"[\d.]+ s, after the last on_epoch_end [\d.]+ s$",
                       text, re.M)
    assert calls == ["0", "1"], text


def test_gate_overhead_prints_every_variant(tmp_path):
    text = _run("studies/gate_overhead.py", "--width=0.0625", "--batch_size=8",
                "--steps=2", "--repeats=1", "--update_every=1", cwd=tmp_path)
    names = re.findall(r"^\s*(.+?): +[\d.]+ ms/step  ratio [\d.]+$", text,
                       re.M)
    assert names == ["plain", "gated", "gated+TargetRatio", "masked (hold)",
                     "shrunk (hold)", "narrowed (hold)", "frozen (hold)"]


def test_channel_counts_times_every_width_list(tmp_path):
    widths = {f"conv{i}": [3, 4] for i in range(13)}
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"layer_widths": widths}))
    text = _run("studies/channel_counts.py", "--width=0.0625", "--batch_size=8",
                "--steps=2", "--repeats=1", "--multiples=8",
                f"--widths_from={run}", cwd=tmp_path)
    rows = re.findall(r"^\s*(.+?): +[\d.]+ ms/step +[\d.]+x time +[\d.]+x "
                      r"MACs  widths \[(.*)\]$", text, re.M)
    assert [name for name, _ in rows] == [
        "full", "ramp (x0.80)", "ramp, multiples of 8 (down)",
        "ramp, multiples of 8 (up)", "hold (run.json)",
        "hold, multiples of 8 (up)"]
    assert rows[4][1] == ", ".join(["3"] * 13)
    # Up to 8, but never wider than the full network (4, 4, 8, 8, 16, ...).
    assert rows[5][1] == ", ".join(["4", "4"] + ["8"] * 11)


def test_training_cost_phases_splits_the_epochs_by_schedule(tmp_path):
    def report(epoch_seconds, seconds, **schedule):
        return {"history": {"seconds": epoch_seconds}, "seconds": seconds,
                "schedule": schedule}

    pairs = {"tfprune_params0.94_s0.json": report(
                 [2, 2, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5], 12,
                 warmup=0.2, ramp=0.4),
             "unpruned_params0.94_s0.json": report([1] * 10, 11)}
    for name, value in pairs.items():
        (tmp_path / name).write_text(json.dumps(value))
    text = _run("studies/training_cost_phases.py", f"--results_dir={tmp_path}",
                cwd=tmp_path)
    assert ("seed 0: warm-up (epochs 1-2) 2.000x (4 s / 2 s), ramp (epochs "
            "3-6) 1.000x (4 s / 4 s), hold (epochs 7-10) 0.500x (2 s / 4 s), "
            "all epochs (epochs 1-10) 1.000x (10 s / 10 s); outside the "
            "epochs 2 s / 1 s; run 1.091x") in text
    assert (tmp_path / "phases.txt").read_text() == text


@pytest.mark.parametrize("driver", sorted(
    p for p in os.listdir(os.path.join(REPO, "benchmarks"))
    if p.endswith(".sh")))
def test_every_driver_is_valid_bash(driver):
    result = subprocess.run(
        ["bash", "-n", os.path.join(REPO, "benchmarks", driver)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_outputs_name_their_script_command_and_commit(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(REPO, "benchmarks"))
    import provenance

    stamp = provenance.stamp([os.path.join(REPO, "benchmarks", "zoo.py"),
                              "--models=VGG16", "--note=a b"])
    assert re.fullmatch(
        r"Made by `python benchmarks/zoo\.py --models=VGG16 '--note=a b'` "
        r"at commit [0-9a-f]{7,}(\+changes)? \(\d{4}-\d\d-\d\d\)\.", stamp)


def test_a_sweep_folds_into_one_table(tmp_path):
    for setting, seed, accuracy in (("bs32", 0, 0.8296), ("bs32", 1, 0.828),
                                    ("lr0.05", 0, 0.819)):
        folder = tmp_path / setting
        folder.mkdir(exist_ok=True)
        (folder / f"tfprune_macs0.5_s{seed}.json").write_text(json.dumps({
            "method": "tfprune", "target": 0.5, "metric": "macs",
            "seed": seed, "epochs": 5, "val_accuracy_float": accuracy,
            "val_accuracy_int8_litert": accuracy, "distillation": None,
            "command": f"python benchmarks/accuracy.py --seed={seed}"}))
    _run("collect_sweeps.py", f"--sweep_dir={tmp_path}", cwd=tmp_path)
    lines = (tmp_path / "sweeps.md").read_text().splitlines()
    assert lines[0].startswith("Made by `python benchmarks/collect_sweeps.py")
    rows = [line for line in lines if line.startswith("| bs32")
            or line.startswith("| lr0.05")]
    assert [row.split(" | ")[5] for row in rows] == [
        "82.96%", "82.80%", "81.90%"]
    assert "-50.0% macs" in rows[0] and "--seed=1" in rows[1]
