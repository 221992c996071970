"""A simulated Amazon seller account that speaks SP-API, with ground truth."""
