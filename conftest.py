"""Root conftest of pytest-dockerlab's checkout: pytester drives the plugin in its own tests."""

pytest_plugins = ["pytester"]
