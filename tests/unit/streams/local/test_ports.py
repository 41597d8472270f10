"""Ports chosen together are distinct: a worker's two listeners, a broker's client and controller ports."""

from __future__ import annotations

import socket

from streams.local.ports import free_ports, listener_ports


def test_ports_chosen_together_are_distinct_and_free() -> None:
    ports = free_ports(64)
    assert len(set(ports)) == 64
    for port in ports[:4]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free once chosen: the test services bind them next


def test_a_workers_two_listeners_never_share_a_port() -> None:
    for _ in range(50):
        ports = listener_ports()
        assert ports["web_port"] != ports["public_port"]
