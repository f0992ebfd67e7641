"""The web tier: nginx in front of the application, as the webapp role sets it up."""

import pytest

pytestmark = pytest.mark.lab("web")


def test_packages_are_installed(lab):
    web = lab.host("web")
    debian_like = web.system_info.distribution in ("debian", "ubuntu")
    assert web.package("nginx").is_installed
    assert web.package("postgresql-client" if debian_like else "postgresql").is_installed


@pytest.mark.parametrize("service", ["nginx", "app"])
def test_services_are_enabled_and_running(lab, service):
    svc = lab.host("web").service(service)
    assert svc.is_enabled
    assert svc.is_running


def test_nginx_listens_and_the_app_only_behind_it(lab):
    web = lab.host("web")
    assert web.socket("tcp://0.0.0.0:80").is_listening
    assert web.socket("tcp://127.0.0.1:8080").is_listening
    assert not web.socket("tcp://0.0.0.0:8080").is_listening


def test_a_request_through_nginx_returns_the_templated_page(lab):
    page = lab.host("web").check_output("curl -sf http://localhost/")
    assert "<h1>Hello from web (test)</h1>" in page
    assert "database app on db:5432" in page
