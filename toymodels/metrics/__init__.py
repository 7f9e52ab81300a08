"""Metrics: functions of tensors with a leading member axis E, returning [E, ...] (plain PyTorch, no Lightning)."""
