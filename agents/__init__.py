"""VLA models: shapes, the model zoo, policies and training."""
