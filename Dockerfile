# SellerOps image: the official Airflow image of the pinned version plus SellerOps' pins.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:0 requirements.txt /opt/airflow/requirements.txt
# The official image already holds Airflow 3.3.2; the pins add SellerOps' libraries.
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt

COPY --chown=airflow:0 pyproject.toml /opt/airflow/pyproject.toml
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 include /opt/airflow/include
COPY --chown=airflow:0 dags /opt/airflow/dags
# Editable, so the mounted plugins/ folder is the code that runs (and `sellerops` exists).
RUN pip install --no-cache-dir --no-deps -e /opt/airflow
ENV SELLEROPS_HOME=/opt/airflow \
    SELLEROPS_DATA_DIR=/opt/airflow/data
