"""Device presets: the flash and RAM a model may use on a class of boards.

A preset is plain data. The numbers are what a typical part of the class
has in total; a firmware needs some of both for itself, so register your
own board with what is left for the model:

>>> tfprune.register_device(tfprune.Device(
...     "my-board", flash_bytes=600_000, ram_bytes=96_000,
...     description="nRF52840, after the BLE stack"))
>>> tfprune.export(small, "fw", representative=x, device="my-board")
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Device:
    """What a model may use on a device.

    Attributes:
        name: the preset's name (`export(..., device=name)`).
        flash_bytes: bytes of flash for the `.tflite` (model_data.cc).
        ram_bytes: bytes of RAM for the TFLite Micro tensor arena.
        description: what the numbers stand for.
    """

    name: str
    flash_bytes: int
    ram_bytes: int
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(
                f"`name` must be a non-empty string. Received: "
                f"name={self.name!r}")
        for field in ("flash_bytes", "ram_bytes"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or \
                    value <= 0:
                raise ValueError(
                    f"`{field}` must be a positive integer number of bytes. "
                    f"Received: {field}={value!r}")

    def fit(self, tflite_bytes, arena_bytes):
        """How a model with these sizes fits: a dict of bytes used, allowed
        and left (negative when over) for flash and RAM, and `fits`."""
        report = {"device": self.name, "fits": True}
        for what, used, allowed in (("flash", tflite_bytes, self.flash_bytes),
                                    ("ram", arena_bytes, self.ram_bytes)):
            report[what] = {"used": int(used), "allowed": allowed,
                            "left": allowed - int(used),
                            "used_share": used / allowed}
            report["fits"] = report["fits"] and used <= allowed
        return report


MiB, KiB = 1024 * 1024, 1024

DEVICES = {}


def register_device(device):
    """Adds (or replaces) a preset, found by `get_device(device.name)`."""
    if not isinstance(device, Device):
        raise TypeError(
            f"`device` must be a tfprune.Device. Received: {device!r}")
    DEVICES[device.name] = device


def get_device(name):
    """The preset called `name`."""
    if name not in DEVICES:
        raise ValueError(
            f"Unknown device {name!r}. Known: {sorted(DEVICES)}; add yours "
            "with tfprune.register_device(tfprune.Device(...)).")
    return DEVICES[name]


for _device in (
    Device("cortex-m4", flash_bytes=1 * MiB, ram_bytes=256 * KiB,
           description="Arm Cortex-M4 class (STM32F4, nRF52840): 1 MiB "
                       "flash, 256 KiB SRAM"),
    Device("cortex-m7", flash_bytes=2 * MiB, ram_bytes=1 * MiB,
           description="Arm Cortex-M7 class (STM32H7): 2 MiB flash, 1 MiB "
                       "SRAM"),
    Device("esp32-s3", flash_bytes=8 * MiB, ram_bytes=512 * KiB,
           description="ESP32-S3 class: 8 MiB module flash, 512 KiB "
                       "internal SRAM"),
    Device("cortex-m0plus", flash_bytes=256 * KiB, ram_bytes=32 * KiB,
           description="Arm Cortex-M0+ class (SAMD21): 256 KiB flash, 32 KiB "
                       "SRAM"),
):
    register_device(_device)
del _device
