"""Warehouse models: the SQL runner, predictive value, and the marts they build."""
