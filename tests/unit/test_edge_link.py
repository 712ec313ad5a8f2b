"""`rtai edge link` refuses a stack config that is no edge site, with the reason, before it calls
any broker; a real link between two Pulsars is tests/test_edge.py's."""

from __future__ import annotations

from dataclasses import replace

import pytest

from flink_jobs.errors import UserFacingError
from rtai.edge import replication
from rtai.stack.config import EdgeConfig, PulsarConfig, SecurityConfig, StackConfig


def test_a_stack_without_a_core_is_no_edge_site():
    with pytest.raises(UserFacingError, match=r"\[edge\] core_cluster is empty"):
        replication.sites(StackConfig())


def test_the_two_sites_need_two_cluster_names():
    config = StackConfig(pulsar=PulsarConfig(cluster="core"), edge=EdgeConfig("core", "10.0.0.2"))
    with pytest.raises(UserFacingError, match="are both 'core'"):
        replication.sites(config)


def test_the_secure_profile_is_refused_between_sites():
    config = StackConfig(pulsar=PulsarConfig(cluster="edge"), edge=EdgeConfig("core", "10.0.0.2"))
    with pytest.raises(UserFacingError, match="open profile only"):
        replication.sites(replace(config, security=SecurityConfig("secure")))


def test_each_site_is_named_by_its_cluster_and_reached_at_its_address():
    site = PulsarConfig(cluster="store-12", address="10.0.0.1")
    config = StackConfig(pulsar=site, edge=EdgeConfig("core", "10.0.0.2"))
    edge, core = replication.sites(config)
    assert edge.cluster_data == {"serviceUrl": "http://10.0.0.1:8080", "brokerServiceUrl": "pulsar://10.0.0.1:6650"}
    assert (core.cluster, core.admin_url) == ("core", "http://10.0.0.2:8080")
