"""The reference network for sensitivity maps: a LeNet-5-like CNN on scikit-learn's 8x8 digits.

This subpackage imports torch (optional extra `nn`); nothing else in `eda` imports it.
Modules: model (the CNN), train (data + deterministic training, cached), quantize (int8
weights), gradients (dC/dw for Alg. 1), inject (real bit-flip injection and the Fig. 2 check),
maps (the pipeline to 2D MAC sensitivity maps), cli (the `sensitivity` command).
"""
