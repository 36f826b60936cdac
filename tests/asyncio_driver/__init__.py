"""Tests of the asyncio driver (``wsgidrivers.asyncio``) over real loopback sockets."""
