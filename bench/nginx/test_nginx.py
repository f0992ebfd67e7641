"""Five checks per host, as the side-by-side measurement of ANCHORS.md has them."""

import pytest

PAGE = "python3 -c \"import urllib.request as u; print(u.urlopen('http://localhost/').read().decode())\""


@pytest.mark.parametrize("name", ["web1", "web2"])
def test_nginx(lab, name):
    host = lab.host(name)
    assert host.package("nginx").is_installed
    assert host.service("nginx").is_enabled
    assert host.service("nginx").is_running
    assert host.socket("tcp://0.0.0.0:80").is_listening
    assert f"served by {name}" in host.check_output(PAGE)
