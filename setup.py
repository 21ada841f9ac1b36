"""tfprune: structured pruning for Keras 3 and int8 TensorFlow Lite."""

from setuptools import find_packages, setup

setup(
    name="tfprune",
    version="0.1.0",
    description=(
        "Structured channel pruning for Keras 3 to an exact target ratio, "
        "with real model surgery and int8 TFLite export for MCUs and phones."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tfprune", "tfprune.*"]),
    # The firmware project's Makefile, main.cc and board_timer.h.
    package_data={"tfprune.firmware": ["templates/*"]},
    python_requires=">=3.10,<3.13",
    install_requires=[
        "tensorflow-cpu>=2.21,<2.22; platform_machine=='x86_64'",
        "tensorflow>=2.21,<2.22; platform_machine!='x86_64'",
        "keras>=3.15,<3.16",  # the versions the suite ran; see tfprune/keras_compat.py
        "numpy>=1.26,<3",
        "ai-edge-litert>=2.0,<3",
        "tflite-micro>=0.dev20250101",
        "tflite>=2.18,<3",
        "absl-py>=2.1,<3",
    ],
    entry_points={"console_scripts": ["tfprune=tfprune.__main__:run"]},
    extras_require={
        "data": ["tensorflow-datasets>=4.9.9,<5", "importlib_resources>=6"],
        "recipes": ["scikit-learn>=1.5,<2"],
        "bench": ["matplotlib>=3.8,<4"],
        "test": [
            "pytest>=8,<10", "pytest-xdist>=3.5,<4", "hypothesis>=6.100,<7",
            "scikit-learn>=1.5,<2", "matplotlib>=3.8,<4",
            "tensorflow-datasets>=4.9.9,<5", "importlib_resources>=6",
            # The docs site and API reference (tests/test_docs.py builds it).
            "mkdocs>=1.6,<2", "mkdocstrings[python]>=1,<2",
        ],
    },
)
