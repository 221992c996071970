"""Helpers for SellerOps' own tests (system packages such as Dovecot or Chromium).

Nothing in here is used by the pipeline at run time.
"""
