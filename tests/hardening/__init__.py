"""Hardening tests: hostile requests, slow clients, faulty apps, client faults, soak."""
