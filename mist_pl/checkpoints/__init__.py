"""Resuming runs: where checkpoints live, which ones are complete, which one to resume
from, and whether a checkpoint fits the model it is loaded into."""
