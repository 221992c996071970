"""SellerOps: user-operations data for Amazon sellers, on Apache Airflow."""

__version__ = "0.1.0"
