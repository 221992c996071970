"""Extractors: SP-API operations, report files and the seller mailbox."""
