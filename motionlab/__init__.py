"""motionlab: audio (and text) driven motion generation with PyTorch Lightning."""

__version__ = "0.1.0"
