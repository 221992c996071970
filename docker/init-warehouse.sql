-- Runs once when the PostgreSQL volume is created: the warehouse lives in its own
-- database beside Airflow's metadata database.
CREATE DATABASE sellerops;
