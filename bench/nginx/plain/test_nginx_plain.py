"""The same five checks through testinfra's own docker backend (--hosts=docker://...)."""

PAGE = "python3 -c \"import urllib.request as u; print(u.urlopen('http://localhost/').read().decode())\""


def test_nginx(host):
    name = host.check_output("hostname")
    assert host.package("nginx").is_installed
    assert host.service("nginx").is_enabled
    assert host.service("nginx").is_running
    assert host.socket("tcp://0.0.0.0:80").is_listening
    assert f"served by {name}" in host.check_output(PAGE)
