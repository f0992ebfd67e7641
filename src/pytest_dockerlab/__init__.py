"""pytest-dockerlab: a Docker engine as a disposable lab of VM-like hosts for Ansible tests.

The pytest plugin is :mod:`pytest_dockerlab.plugin`; the ``dockerlab`` command is
:mod:`pytest_dockerlab.cli`.
"""
