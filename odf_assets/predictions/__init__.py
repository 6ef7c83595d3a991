"""Iris batch predictions: an ONNX model asset, a landing-zone sensor and daily prediction assets."""
