"""Operators STFAN needs beyond stock PyTorch layers."""
