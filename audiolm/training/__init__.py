"""Training: the resumable loop, the component trainers and the speech recipe."""
