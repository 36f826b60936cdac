"""Tests of wsgidrivers.testing: the in-memory client, live servers, the pytest plugin, strategies."""
