"""pytest-dockerlab: a Docker engine as a disposable lab of VM-like hosts for Ansible tests.

The pytest plugin is :mod:`pytest_dockerlab.plugin`; the ``dockerlab`` command is
:mod:`pytest_dockerlab.__main__`.
(A regular package, not a namespace one: pytest then marks ``pytest_dockerlab`` for assertion
rewriting, not each module as if it were top-level, ``__main__`` included, which warned in
every user's run.)
"""
