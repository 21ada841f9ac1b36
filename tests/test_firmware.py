"""Firmware from `export`'s own output, built for Cortex-M cores and run
under QEMU: its int8 outputs equal the TFLite Micro Python interpreter's.

Needs the Arm toolchain, QEMU and a TFLite Micro tree (`../shared/tflm`, or
$TFPRUNE_TFLM_ROOT); each test skips with what to install where one is
missing. The TFLite Micro library is built once per core into
$TFPRUNE_FIRMWARE_CACHE (default ~/.cache/tfprune/firmware), outside the
repository and the (read-only) tree.
"""

import glob
import hashlib
import os
import re
import shutil
import subprocess
import warnings

import keras
import numpy as np
import pytest

import tfprune
from conftest import REPO
from tfprune import convert, firmware

pytestmark = pytest.mark.slow  # builds firmware and runs it emulated

SHARED_TFLM = os.path.join(REPO, "..", "shared", "tflm")
RUN_CORES = ("cortex-m4", "cortex-m7")
# MLPerf Tiny reference int8 file bytes: the budgets are half of them.
REFERENCE_BYTES = {"resnet8_tiny": 98_496, "ds_cnn_tiny": 53_936,
                   "mobilenet_v1_tiny": 333_288, "autoencoder_tiny": 276_976}


def _tflm_root():
    root = os.environ.get(firmware.ENV_ROOT) or SHARED_TFLM
    try:
        return firmware.find_tflm_root(root)
    except firmware.FirmwareError as error:
        pytest.skip(str(error))


def _needs(core, run=True):
    missing = firmware.missing_tools(core, run=run)
    if missing:
        pytest.skip(f"needs {missing}: apt-get install gcc-arm-none-eabi "
                    "libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib "
                    "qemu-system-arm")


def lib_dir(core, root):
    """The cached TFLite Micro library of `core`, keyed by the tree and the
    Makefile that builds it."""
    key = hashlib.sha256((root + firmware.template("Makefile"))
                         .encode()).hexdigest()[:12]
    cache = os.environ.get("TFPRUNE_FIRMWARE_CACHE", os.path.join(
        os.path.expanduser("~"), ".cache", "tfprune", "firmware"))
    return os.path.join(cache, f"{core}-{key}")


def _noisy(model, seed=0):
    """`model` with a little noise on every weight, as after training (an
    untrained network's all-zero biases and collapsed ranges are not what
    devices run)."""
    rng = np.random.default_rng(seed)
    model.set_weights([
        w + (max(1e-3 * np.abs(w).mean(), 1e-2)
             * rng.uniform(0.5, 1.0, w.shape)).astype(w.dtype)
        for w in model.get_weights()])
    return model


def _inputs(model, count, seed=0):
    shape = [count] + [int(d) for d in model.inputs[0].shape[1:]]
    high = 255.0 if len(shape) == 4 and shape[-1] == 3 else 1.0
    return np.random.default_rng(seed).uniform(0, high, shape).astype(
        "float32")


def _pruned(builder, flash_bytes=None, ratio=None):
    keras.utils.set_random_seed(0)
    gated = tfprune.gate(_noisy(builder()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # untrained: scores rank as ties
        if flash_bytes:
            tfprune.prune_now(gated, flash_bytes=flash_bytes,
                              importance="l1")
        else:
            tfprune.prune_now(gated, ratio, importance="l1")
    return tfprune.shrink(gated)


MODELS = {
    "ic_half_flash": lambda: _pruned(tfprune.models.resnet8_tiny,
                                     REFERENCE_BYTES["resnet8_tiny"] // 2),
    "kws_half_flash": lambda: _pruned(tfprune.models.ds_cnn_tiny,
                                      REFERENCE_BYTES["ds_cnn_tiny"] // 2),
    "vww_half_flash": lambda: _pruned(
        tfprune.models.mobilenet_v1_tiny,
        REFERENCE_BYTES["mobilenet_v1_tiny"] // 2),
    "ad_half_flash": lambda: _pruned(
        tfprune.models.autoencoder_tiny,
        REFERENCE_BYTES["autoencoder_tiny"] // 2),
    "vgg16_x0.25_params0.94": lambda: _pruned(
        lambda: tfprune.models.vgg16_cifar(width=0.25), ratio=0.94),
}


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """`{name: (project dir, .tflite bytes, float inputs)}`."""
    made = {}
    for name, make in MODELS.items():
        model = make()
        x = _inputs(model, 8)
        out = tmp_path_factory.mktemp("fw") / name
        tfprune.export(model, str(out), target="mcu", representative=x)
        made[name] = (str(out), (out / "model.tflite").read_bytes(), x[:3])
    return made


@pytest.mark.parametrize("core", RUN_CORES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_firmware_outputs_equal_the_python_interpreter(projects, name, core):
    program, tflite, x = _built(projects, name, core)
    result = firmware.run(program, core, convert.quantize_inputs(tflite, x))
    expected = convert.run_tflite(tflite, x, runtime="tflm",
                                  int8_outputs=True)
    np.testing.assert_array_equal(
        result.outputs, expected.reshape(len(x), -1))
    assert len(result.ticks) == len(x) and min(result.ticks) > 0
    assert 0 < result.arena_used_bytes <= \
        convert.tflm_arena_bytes(tflite) * 1.1


def _built(projects, name, core):
    """`(program, .tflite bytes, float inputs)` of a project built for
    `core` (skips without the toolchain or the tree)."""
    root = _tflm_root()
    _needs(core, run=core in firmware.QEMU_BOARDS)
    project, tflite, x = projects[name]
    program = firmware.build(project, core, root,
                             build_dir=os.path.join(project, "build", core),
                             lib_dir=lib_dir(core, root))
    return program, tflite, x


def test_emulated_ticks_repeat_exactly(projects):
    program, tflite, x = _built(projects, "kws_half_flash", "cortex-m4")
    inputs = convert.quantize_inputs(tflite, x)
    first = firmware.run(program, "cortex-m4", inputs)
    again = firmware.run(program, "cortex-m4", inputs)
    assert first.ticks == again.ticks


def test_without_an_input_file_the_sample_runs(projects):
    program, tflite, x = _built(projects, "ic_half_flash", "cortex-m4")
    sample = firmware.run(program, "cortex-m4")
    expected = convert.run_tflite(tflite, x[:1], runtime="tflm",
                                  int8_outputs=True)
    np.testing.assert_array_equal(sample.outputs, expected.reshape(1, -1))


def test_cortex_m0plus_links_with_the_reference_kernels(projects):
    program, tflite, _ = _built(projects, "kws_half_flash", "cortex-m0plus")
    sizes = firmware.sizes(program, "cortex-m0plus")
    assert sizes["flash"] > len(tflite)


CPP_BLOCK = re.compile(r"^```cpp\n(.*?)^```", re.S | re.M)


def _syntax_check(source, project, root):
    tree = os.path.join(root, "reference")
    includes = [project, tree] + [os.path.join(tree, "third_party", d)
                                  for d in ("flatbuffers/include",
                                            "gemmlowp", "ruy")]
    return subprocess.run(
        ["g++", "-std=c++17", "-fsyntax-only", "-DTF_LITE_STATIC_MEMORY"]
        + [f"-I{d}" for d in includes] + [source],
        capture_output=True, text=True)


def test_docs_cpp_blocks_and_the_generated_main_compile(projects, tmp_path):
    """Every ```cpp block of README.md and docs/, and the exported main.cc,
    against the exported headers and the reference TFLite Micro tree."""
    root = _tflm_root()
    if shutil.which("g++") is None:
        pytest.skip("needs g++ (apt-get install g++)")
    project = projects["kws_half_flash"][0]
    pages = ["README.md"] + sorted(glob.glob(os.path.join(REPO, "docs",
                                                          "*.md")))
    sources = [os.path.join(project, "main.cc")]
    for page in pages:
        text = open(os.path.join(REPO, page), encoding="utf-8").read()
        for i, block in enumerate(CPP_BLOCK.findall(text)):
            path = tmp_path / f"{os.path.basename(page)}_{i}.cc"
            path.write_text(block)
            sources.append(str(path))
    assert len(sources) >= 2  # deploy-mcu.md shows one
    for source in sources:
        result = _syntax_check(source, project, root)
        assert result.returncode == 0, (source, result.stderr[-3000:])


def test_bad_firmware_arguments_say_what_was_wrong(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="Unknown core.*core='cortex-m5'"):
        firmware.build(str(tmp_path), core="cortex-m5")
    monkeypatch.delenv(firmware.ENV_ROOT, raising=False)
    with pytest.raises(firmware.FirmwareError,
                       match="No TFLite Micro tree.*TFPRUNE_TFLM_ROOT"):
        firmware.find_tflm_root(None)
    with pytest.raises(firmware.FirmwareError, match=r"lacks \['cmsis-nn', "
                       r"'reference', 'cmsis'\]"):
        firmware.find_tflm_root(str(tmp_path))
    with pytest.raises(ValueError, match="`sample`"):
        firmware.write_project(str(tmp_path), b"", [], 1024)
    with pytest.raises(firmware.FirmwareError, match="No emulator runs "
                       "cortex-m0plus"):
        firmware.run("firmware.elf", "cortex-m0plus")


def test_bad_kernels_are_named(tmp_path):
    root = _tflm_root()
    _needs("cortex-m4", run=False)
    with pytest.raises(ValueError, match="kernels='fast'"):
        firmware.build(str(tmp_path), "cortex-m4", root, kernels="fast")
